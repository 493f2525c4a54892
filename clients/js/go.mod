module github.com/pairpad/pairpad/clients/js

go 1.26.8
