module github.com/pairpad/pairpad/services/janitor

go 1.26.8

require github.com/pairpad/pairpad/shared v0.0.0

replace github.com/pairpad/pairpad/shared => ../../shared
