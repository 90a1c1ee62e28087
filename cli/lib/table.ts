// Plain-text tables for listings: columns padded to their widest cell, the last column cut to the terminal width.
import { truncate } from "./render.js";

export function formatTable(headers: string[], rows: string[][], maxWidth = Infinity): string {
  return formatRows([headers, ...rows], maxWidth).join("\n") + "\n";
}

/** Rows of cells as aligned lines (no header, no newlines), the last column cut to `maxWidth`. */
export function formatRows(rows: string[][], maxWidth = Infinity): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...rows.map((r) => Array.from(r[i] ?? "").length)));
  const line = (cells: string[]) => {
    const padded = cells.map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - Array.from(c).length)));
    const head = padded.slice(0, -1).join("  ");
    const last = padded.at(-1) ?? "";
    const room = maxWidth - (head.length + (padded.length > 1 ? 2 : 0));
    const cut = Number.isFinite(maxWidth) && room > 3 ? truncate(last, room) : last;
    return (padded.length > 1 ? `${head}  ${cut}` : cut).trimEnd();
  };
  return rows.map(line);
}

/** "12s", "5m", "3h", "2d": how long ago. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** A prompt summary on one line. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}
