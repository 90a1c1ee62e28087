// Assistant text as Markdown: marked parses it, highlight.js colours fenced code in the languages registered here,
// and DOMPurify sanitises the result before it touches the page. Raw HTML in the Markdown is shown as text, and
// images become links: an <img> would be a request to another site, and the page makes none.
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { Marked } from "marked";

for (const [name, language] of Object.entries({ bash, diff, go, javascript, json, python, rust, shell, typescript, xml, yaml })) {
  hljs.registerLanguage(name, language);
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Fenced code, highlighted when its language is one of ours; plain (escaped) otherwise. */
export function highlightCode(code: string, lang: string): string {
  const language = lang.trim().split(/\s+/, 1)[0]!.toLowerCase();
  if (language && hljs.getLanguage(language)) return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  return escapeHtml(code);
}

const markdown = new Marked({
  gfm: true,
  async: false,
  renderer: {
    code({ text, lang }) {
      const language = (lang ?? "").trim().split(/\s+/, 1)[0]!.toLowerCase();
      const label = language ? ` data-language="${escapeHtml(language)}"` : "";
      return `<pre${label}><code class="hljs">${highlightCode(text, language)}</code></pre>\n`;
    },
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
  },
});

const ALLOWED_TAGS = ["a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"];
const ALLOWED_ATTR = ["href", "title", "class", "start", "align", "data-language"];

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** `code` highlighted as `language` (a tool's input, as JSON), sanitised like everything else the page inserts. */
export function renderHighlighted(code: string, language: string): DocumentFragment {
  return DOMPurify.sanitize(highlightCode(code, language), { ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"], RETURN_DOM_FRAGMENT: true });
}

/** Sanitised HTML of `text` as a fragment, ready to insert. */
export function renderMarkdown(text: string): DocumentFragment {
  const html = markdown.parse(text, { async: false });
  return DOMPurify.sanitize(html, { ALLOWED_TAGS, ALLOWED_ATTR, RETURN_DOM_FRAGMENT: true });
}
