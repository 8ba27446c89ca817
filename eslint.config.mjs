// ESLint for the browser consoles (web/static): ES modules in the browser, with Leaflet
// loaded before them as the classic script that defines the global `L`.

import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["web/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, L: "readonly" },
    },
    rules: {
      "no-unused-vars": "error",
    },
  },
];
