// highlight.js ships no declarations for its language modules; each is a language definition for registerLanguage.
declare module "highlight.js/lib/languages/*" {
  import type { LanguageFn } from "highlight.js";
  const language: LanguageFn;
  export default language;
}

// Stylesheets imported for their side effect: esbuild bundles them into the page's one CSS file.
declare module "*.css";
