module github.com/pairpad/pairpad/deploy/images

go 1.26.8

require (
	github.com/google/go-containerregistry v0.22.1
	github.com/pairpad/pairpad/shared v0.0.0
	golang.org/x/crypto/x509roots/fallback v0.0.0-20261030153154-30a33513ff6d
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)

replace github.com/pairpad/pairpad/shared => ../../shared
