function walk(n) { return walk(n + 1) + 1; }
function decodeUplink(input) { if (input.bytes[0] === 0xff) return { data: { n: walk(0) } }; return { data: { n: input.bytes[0] } }; }
