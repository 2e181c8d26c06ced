// A dapp as viem users write one, pointed at Outlast nodes' /rpc/devnet (with viem's own
// fallback across them): reads the head, a balance and a token balance, then sends a payment
// signed by a local account and waits for its receipt. Prints one JSON line.
// Usage: node dapp.cjs <private key> <recipient> <token> <rpc url>...
const { createPublicClient, createWalletClient, http, fallback, erc20Abi } = require('viem');
const { privateKeyToAccount } = require('viem/accounts');

async function main() {
  const [key, to, token, ...urls] = process.argv.slice(2);
  const chain = {
    id: 31337,
    name: 'devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: urls } },
  };
  const transport = fallback(urls.map((url) => http(url, { timeout: 5_000 })));
  const client = createPublicClient({ chain, transport, pollingInterval: 100 });
  const block = await client.getBlockNumber();
  const before = await client.getBalance({ address: to });
  const tokens = await client.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [to] });
  const wallet = createWalletClient({ account: privateKeyToAccount(key), chain, transport });
  const hash = await wallet.sendTransaction({ to, value: 12345n });
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 100, timeout: 30_000 });
  const after = await client.getBalance({ address: to });
  console.log(JSON.stringify({
    block: block.toString(),
    tokens: tokens.toString(),
    hash,
    status: receipt.status,
    received: (after - before).toString(),
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
