# syntax=docker/dockerfile:1
# restore-guard, the admission webhook image:
#   docker build -t ghcr.io/restore-guard/restore-guard:0.1.0 .
# build:   compiles TypeScript to dist/ (dev dependencies live only here)
# deps:    production node_modules only (npm ci --omit=dev)
# runtime: distroless Node.js 24 LTS: no shell, no npm, runs as the non-root user 65532
# The RUN steps use relative paths only: test/integration/deploy-image.test.ts replays this file step by
# step into a folder and starts the server from the result.

ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` dependency would fetch a second Node.js, and `prepare` would build too early.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 65532:65532
# 8443: HTTPS admission (/mutate, /validate); 8080: /healthz, /readyz, /metrics
EXPOSE 8443 8080
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli/main.js"]
CMD ["serve"]
