# The production worker (and terminationctl for operators), built static and
# run as a non-root user on a distroless base. The worker links no Temporal server.
# The HTTP API is the target "api", from the same build.
#
#   docker build --build-arg BUILD_ID=$(git rev-parse HEAD) -t termination-orders-worker .
#   docker build --target api -t termination-orders-api .

FROM golang:1.26.8-bookworm AS build
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/termination-worker ./cmd/termination-worker \
 && go build -trimpath -ldflags="-s -w" -o /out/terminationctl ./cmd/terminationctl \
 && go build -trimpath -ldflags="-s -w" -o /out/termination-api ./cmd/termination-api

FROM gcr.io/distroless/static-debian12:nonroot AS api
COPY --from=build /out/termination-api /out/terminationctl /usr/local/bin/
USER nonroot:nonroot
EXPOSE 8234
ENTRYPOINT ["/usr/local/bin/termination-api"]

FROM gcr.io/distroless/static-debian12:nonroot
# The worker runs under Worker Versioning as the build it was built as
# (docs/versioning.md): docker build --build-arg BUILD_ID=$(git rev-parse HEAD) .
ARG BUILD_ID
ENV TERMINATION_WORKER_VERSIONING=true TERMINATION_WORKER_BUILD_ID=${BUILD_ID}
COPY --from=build /out/termination-worker /out/terminationctl /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/termination-worker"]
