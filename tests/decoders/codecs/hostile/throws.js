function decodeUplink(input) { if (input.bytes[0] === 0xff) throw new Error("reserved frame type 0xff"); return { data: { n: input.bytes[0] } }; }
