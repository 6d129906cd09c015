# syntax=docker/dockerfile:1
#
# The runtime-action binary in a small image (about 15 MB): the GitHub Action's
# image, and a way to run the command line without installing Go.
#
#   docker build -t runtime-action .                  # the Action's image (default target)
#   docker build --target cli -t runtime-action:cli . # the same binary, as a non-root user

# Build on the machine's own platform and cross-compile: a pure Go binary
# (CGO_ENABLED=0; SQLite is modernc.org/sqlite) needs no emulation for arm64.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# runtime-action-post is the post step's entrypoint (action.yml): the same
# binary, which tells the post step by the name it was started under.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
      go build -trimpath -ldflags="-s -w" -o /out/runtime-action . \
 && ln -s runtime-action /out/runtime-action-post

# The command line as a non-root user, for `docker run` on a workstation or
# in other CI systems. distroless/static has CA certificates and time zones.
FROM gcr.io/distroless/static-debian12:nonroot AS cli
COPY --from=build /out/ /
ENTRYPOINT ["/runtime-action"]

# The GitHub Action's image, the default target. It runs as root on purpose:
# the runner mounts the workspace and the GITHUB_OUTPUT, GITHUB_STATE and
# GITHUB_STEP_SUMMARY files owned by its own user (uid 1001 on hosted
# runners), so a non-root user cannot write outputs or the profile files, and
# GitHub's documentation requires container actions to run as the default
# user. The container holds only this static binary, talks HTTP, and runs no
# user code (scripts run on the Runtime).
FROM gcr.io/distroless/static-debian12 AS action
COPY --from=build /out/ /
ENTRYPOINT ["/runtime-action"]
