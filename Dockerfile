# Demo API image: build with the workspace, run the compiled output with production deps only.
FROM node:20-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs/nestjs-redis-shield/package.json libs/nestjs-redis-shield/
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/libs/nestjs-redis-shield/package.json libs/nestjs-redis-shield/
COPY --from=build /app/libs/nestjs-redis-shield/dist libs/nestjs-redis-shield/dist
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/main.js"]
