// Reads two integers and prints their sum.
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const [a, b] = input.trim().split(/\s+/).map(BigInt);
  console.log(String(a + b));
});
