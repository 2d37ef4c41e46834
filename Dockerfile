# Rotor daemon image. What it holds is what the package ships: package.json's `files`, packed by
# `npm pack` — the one list of Rotor's content — compiled to JavaScript in place of its TypeScript
# (test/production/image-content.test.ts assembles the same content without Docker and runs it).
# Production dependencies only; runs as a non-root user.
FROM node:20-bookworm-slim AS pack
WORKDIR /src
COPY . .
# The compiler is a dev dependency: installed here only, with no install scripts.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && mkdir /out && npm pack --ignore-scripts --pack-destination /out && tar -xzf /out/rotor-*.tgz -C /out \
 && npx tsc -p tsconfig.build.json --outDir /out/package --sourceMap false \
 && find /out/package -name '*.ts' -delete \
 && cp package-lock.json /out/package/

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=pack /out/package/ ./
# The workflow bundle is built here, once: the Helm chart runs with a read-only root filesystem and
# points ROTOR_WORKFLOW_BUNDLE (values.yaml `workflowBundle`) at this file.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && node bin/rotor.js bundle-workflows /app/dist/workflows.js
USER node
ENTRYPOINT ["node", "bin/rotor.js"]
CMD ["daemon"]
