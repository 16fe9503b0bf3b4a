// Packs static binaries into container images without a registry or a
// container engine (make image, make cluster). A module of its own so that
// the operator's go.mod does not carry go-containerregistry.
module rolegate.dev/hack/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
