import { defineConfig } from "vite";

// The daemon serves dist/ on the same origin as the API: index.html at "/", the hashed
// bundles under "/assets/". `npm run dev` proxies the API to a daemon on :8080.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    // one small bundle: no dynamic chunks, so the CSP stays 'self' and nothing loads late
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8080", changeOrigin: false },
    },
  },
});
