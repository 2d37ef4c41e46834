# Rotor daemon image. Multi-stage: dependencies are installed in a build stage, the runtime stage
# carries only production modules and the source, and runs as a non-root user.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY config ./config
COPY daemon ./daemon
COPY lib ./lib
COPY store ./store
COPY activities ./activities
COPY providers ./providers
COPY workflows ./workflows
USER node
ENTRYPOINT ["node", "bin/rotor.js"]
CMD ["worker"]
