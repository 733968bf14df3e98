// Self-referencing objects until the heap is full: QuickJS runs out of memory while
// collecting the cycles and throws null rather than an error object.
var hoard = [];
function decodeUplink(input) {
  if (input.bytes[0] === 0xff) {
    for (;;) { var o = {}; o.self = o; o.refs = new Array(100).fill(o); hoard.push(o); }
  }
  return { data: { n: input.bytes[0] } };
}
