// nomnom-edge/client in a few lines: 1,000 customers, sent as 2 batches by one close(). Usage: node examples/client.mjs [URL]
import { NomnomClient } from "nomnom-edge/client";

const client = new NomnomClient({ url: process.argv[2] ?? "http://localhost:8080", onRejected: (record, error) => console.error(error.message, record) });
for (let i = 1; i <= 1000; i++) client.send("Customer", { customer_key: `CL${i}`, name: `Customer#${i}`, account_balance: "10.00" });
const { sent, inserted, duplicates, rejected } = await client.close();
console.log(JSON.stringify({ sent, inserted, duplicates, rejected }));
