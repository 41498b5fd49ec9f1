/** One JSON object per line, newline-terminated: the committed eval files are byte-stable. */
export function toJsonl(lines: readonly object[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}
