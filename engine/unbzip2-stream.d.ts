/** unbzip2-stream ships no types: a `through` stream (old-style, but an EventEmitter with
 *  write/end and data/error events), bzip2 in, bytes out. */
declare module 'unbzip2-stream' {
  function unbzip2(): NodeJS.ReadWriteStream;
  export default unbzip2;
}
