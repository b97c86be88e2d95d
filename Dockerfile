# The production worker (and terminationctl for operators), built static and
# run as a non-root user on a distroless base. The worker links no Temporal server.
#
#   docker build -t termination-orders-worker .

FROM golang:1.26.8-bookworm AS build
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/termination-worker ./cmd/termination-worker \
 && go build -trimpath -ldflags="-s -w" -o /out/terminationctl ./cmd/terminationctl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/termination-worker /out/terminationctl /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/termination-worker"]
