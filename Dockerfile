# One image for every Taskmaster process; docker-compose.yml picks the entry point per service.
# Same entry points as the dev launcher (tools/dev/src/stack.ts), built the same way (turbo build).
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npx turbo run build --output-logs=errors-only && npm prune --omit=dev

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production TASKMASTER_PROFILE=production
WORKDIR /app
COPY --from=build /app /app
# Attachments and backups live in volumes mounted here; a new named volume takes this owner, so the
# services (user node) can write attachments.
RUN mkdir -p /data/attachments /data/backups && chown -R node:node /data
USER node
CMD ["node", "--enable-source-maps", "--import=@taskmaster/telemetry/register", "apps/gateway/dist/main.js"]
