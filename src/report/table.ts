/** Plain-text tables built once from Results, rendered as HTML and as Markdown. */
export interface Table {
  headers: string[];
  rows: string[][];
}
