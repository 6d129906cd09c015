# The Action's image: the static runtime-action binary and nothing else.
#
# It is built without a registry: no syntax line (that would pull a
# frontend) and no base image (FROM scratch). The binary is compiled by
# `go build` before `docker build` and carries its own CA roots and time
# zones (roots.go), so the image needs no files from a distribution. The
# build context is a folder that .ci/image prepares, one subfolder per
# architecture:
#
#   linux_amd64/runtime-action        the binary (CGO_ENABLED=0, -trimpath, version stamped)
#   linux_amd64/runtime-action-post   a link to it: the post step's entrypoint (action.yml)
#   linux_amd64/tmp/                  mode 1777, for os.TempDir
#
#   bash .ci/image runtime-action:dev        # prepare the context and build (this machine's arch)
#
# TARGETARCH is set by buildx for each platform of a multi-platform build
# (the release workflow); .ci/image passes it to the classic builder.
#
# The image runs as root on purpose: the runner mounts the workspace and the
# GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files owned by its own
# user (uid 1001 on hosted runners), and GitHub's documentation requires
# container actions to run as the default user. The container holds only
# this binary, talks HTTP, and runs no user code (scripts run on the
# Runtime); files it leaves for later steps (logs-file) are made readable
# to all.
FROM scratch
ARG TARGETARCH
COPY linux_${TARGETARCH}/ /
ENV TMPDIR=/tmp
ENTRYPOINT ["/runtime-action"]
