# Rotor daemon image. What it holds is what the package ships: package.json's `files`, packed by
# `npm pack` — the one list of Rotor's content (test/production/image-content.test.ts assembles the
# same content without Docker and runs it). Production dependencies only; runs as a non-root user.
FROM node:20-bookworm-slim AS pack
WORKDIR /src
COPY . .
RUN mkdir /out && npm pack --ignore-scripts --pack-destination /out && tar -xzf /out/rotor-*.tgz -C /out \
 && cp package-lock.json /out/package/

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=pack /out/package/ ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
USER node
ENTRYPOINT ["node", "bin/rotor.js"]
CMD ["daemon"]
