/** Valid Customer lines in the pipe-delimited format, with natural keys a test chooses. */
export const customerLine = (key: string) => `C|${key}|Name|x|1|5|1.00|A|b`;

/** `n` Customer lines, keyed `${prefix}0` to `${prefix}${n - 1}`, one body. */
export const customers = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => customerLine(`${prefix}${i}`)).join("\n");
