// A starting point for merging two texts by hand: the lines both share once,
// and where they differ, your lines then theirs. Nothing from either is lost.

/** Lines above which the line-by-line comparison is skipped (it grows with the square). */
const MAX_LINES = 3000;

/** Both texts combined line by line, keeping every line of each. */
export function mergeText(mine: string, theirs: string): string {
  if (mine === theirs) return mine;
  const a = mine.split("\n");
  const b = theirs.split("\n");
  if (a.length * b.length > MAX_LINES * MAX_LINES) return `${mine}\n\n${theirs}`;

  // Longest common subsequence table, from the ends.
  const lcs: Uint32Array[] = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }

  const out: string[] = [];
  let [i, j] = [0, 0];
  let onlyMine: string[] = [];
  let onlyTheirs: string[] = [];
  const settle = () => {
    out.push(...onlyMine, ...onlyTheirs);
    onlyMine = [];
    onlyTheirs = [];
  };
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      settle();
      out.push(a[i]);
      i++;
      j++;
    } else if (j >= b.length || (i < a.length && lcs[i + 1][j] >= lcs[i][j + 1])) {
      onlyMine.push(a[i++]);
    } else {
      onlyTheirs.push(b[j++]);
    }
  }
  settle();
  return out.join("\n");
}
