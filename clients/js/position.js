// position.js — conversions between offsets in a text (UTF-16 code units,
// as ops count them) and the protocol's cursor positions {line, column}
// (0-based; lines end at "\n", columns count UTF-16 code units).

/**
 * indexToPosition returns the {line, column} of offset index in text; index
 * is clamped to [0, text.length].
 */
export function indexToPosition(text, index) {
  const i = Math.max(0, Math.min(Math.trunc(Number(index) || 0), text.length));
  let line = 0;
  let lineStart = 0;
  for (let nl = text.indexOf('\n'); nl !== -1 && nl < i; nl = text.indexOf('\n', nl + 1)) {
    line++;
    lineStart = nl + 1;
  }
  return { line, column: i - lineStart };
}

/**
 * positionToIndex returns the offset of {line, column} in text. A line past
 * the end means the end of the text; a column past the end of its line
 * means the end of that line; negative or missing values count as 0.
 */
export function positionToIndex(text, position) {
  const line = Math.max(0, Math.trunc(Number(position && position.line) || 0));
  const column = Math.max(0, Math.trunc(Number(position && position.column) || 0));
  let start = 0;
  for (let l = 0; l < line; l++) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) return text.length;
    start = nl + 1;
  }
  let end = text.indexOf('\n', start);
  if (end === -1) end = text.length;
  return Math.min(start + column, end);
}
