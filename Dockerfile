# Used by docker-compose.yml only; tests and `outcomebill dev` do not need Docker.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/outcomebill ./cmd/outcomebill

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/outcomebill /usr/local/bin/outcomebill
EXPOSE 8080
ENTRYPOINT []
