/** Deterministic TPC-H-like pipe lines in the seed's proportions: per order 1 O line and ~4 L lines, plus C and P. */

export function tpchLines(count: number, seed = 1): string[] {
  const lines: string[] = [];
  let order = seed * 1_000_000;
  while (lines.length < count) {
    order++;
    const n = order % 10;
    if (n === 0)
      lines.push(
        `C|C${order}|Customer#${order}|${order} Main St|${order % 25}|25-989-741-${order % 10000}|${(order % 9999) - 999}.${order % 100}|BUILDING|regular deposits`,
      );
    else if (n === 5)
      lines.push(
        `P|P${order}|part ${order}|Manufacturer#${order % 5}|Brand#${order % 55}|STANDARD POLISHED TIN|${order % 50}|SM BOX|${900 + (order % 100)}.99|final packages`,
      );
    else {
      lines.push(
        `O|${order}|${order % 1500}|O|${order % 100000}.${order % 100}|1996-${String((order % 12) + 1).padStart(2, "0")}-${String((order % 28) + 1).padStart(2, "0")}|5-LOW|Clerk#000000951|0|order ${order}`,
      );
      for (let line = 1; line <= 4 && lines.length < count; line++) {
        lines.push(
          `L|${order}|${line}|P${order % 2000}|S${order % 100}|${line * 3}|${line * 1000}.50|0.04|0.02|N|O|1996-03-13|1996-02-12|1996-03-22|carefully`,
        );
      }
    }
  }
  return lines.slice(0, count);
}
