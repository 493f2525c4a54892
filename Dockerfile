# syntax=docker/dockerfile:1
# Optional, for Docker users: one image per process, like `make images` builds
# without Docker (static binary, no shell, user 65532).
#   docker build --build-arg SERVICE=api --build-arg VERSION=0.1.0 \
#     -t ghcr.io/pairpad/pairpad-api:0.1.0 .
# SERVICE is api, realtime or janitor; each listens on its default PORT
# (3001, 3002, 3003) unless PORT is set.

ARG GO_VERSION=1.26.8
ARG NODE_VERSION=20

# The demo page's editor bundle (realtime embeds it): CodeMirror from npm,
# per the lockfile, bundled by esbuild, as `make editor` does.
FROM node:${NODE_VERSION}-bookworm-slim AS editor
WORKDIR /src/clients/js
COPY clients/js/package.json clients/js/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY clients/js/ ./
RUN node build.mjs

FROM golang:${GO_VERSION} AS build
ARG SERVICE=api
ARG VERSION=dev
WORKDIR /src
COPY . .
COPY --from=editor /src/clients/js/dist/editor.js clients/js/dist/editor.js
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    case "$SERVICE" in api|realtime|janitor) ;; \
      *) echo "SERVICE must be api, realtime or janitor, not '$SERVICE'" >&2; exit 1 ;; esac && \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/pairpad/pairpad/shared/buildinfo.Version=${VERSION}" \
      -o /out/pairpad ./services/${SERVICE}/cmd/${SERVICE} && \
    /out/pairpad --version

# CA certificates, /etc/passwd with nonroot (65532), /tmp; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG SERVICE=api
ARG VERSION=dev
LABEL org.opencontainers.image.title="pairpad-${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/pairpad/pairpad"
COPY --from=build /out/pairpad /pairpad
USER 65532:65532
ENTRYPOINT ["/pairpad"]
