/** Valid Customer lines in the pipe-delimited format, with natural keys a test chooses. */
export const customerLine = (key: string) => `C|${key}|Name|x|1|5|1.00|A|b`;

/** The same Customer as a JSON record's fields (`extra` overrides or adds fields). */
export const customerRecord = (key: string, extra: object = {}) => ({
  customer_key: key,
  name: "Name",
  address: "x",
  nation_key: 1,
  phone: "5",
  account_balance: "1.00",
  market_segment: "A",
  comment: "b",
  ...extra,
});

/** `n` Customer lines, keyed `${prefix}0` to `${prefix}${n - 1}`, one body. */
export const customers = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => customerLine(`${prefix}${i}`)).join("\n");
