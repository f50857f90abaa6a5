-- pgTAP: pseudonymize against independent HMAC-SHA256 values.
BEGIN;
SELECT plan(12);

-- RFC 4231, test case 1: key = 20 bytes 0x0b, data = "Hi There"
SELECT is(retention.pseudonymize('Hi There', decode(repeat('0b', 20), 'hex')),
          'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
          'RFC 4231 test case 1');
-- RFC 4231, test case 6: a 131-byte key, longer than SHA-256's block
SELECT is(retention.pseudonymize('Test Using Larger Than Block-Size Key - Hash Key First',
                                 decode(repeat('aa', 131), 'hex')),
          '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
          'RFC 4231 test case 6');

-- Values from Python's hmac module: hmac.new(key, b'12345', hashlib.sha256);
-- the bigint form is the digest's first 8 bytes, big-endian, signed.
SELECT is(retention.pseudonymize('12345', 'retention-demo-key-32-bytes-long'::bytea),
          '8c7add5a126f15620fc9291e7714ab80f0cb32b70bfe75ff07accc62b7a2e9b3', 'text identifier');
SELECT is(retention.pseudonymize(12345::bigint, 'retention-demo-key-32-bytes-long'::bytea),
          -8324097582314875550::bigint, 'bigint identifier: head of the same digest');
SELECT is(retention.pseudonymize('-9223372036854775808'::bigint, 'retention-demo-key-32-bytes-long'::bytea),
          4458912415791347073::bigint, 'the smallest bigint');
SELECT is(retention.pseudonymize('Zoë', 'retention-demo-key-32-bytes-long'::bytea),
          'bd90d80d837ede8a2eab149ea472d5d82cf554948777922cf4b662f737bcd3d8', 'UTF-8 text');

-- the same identifier under another key gets an unrelated pseudonym
SELECT isnt(retention.pseudonymize(12345::bigint, 'retention-demo-key-32-bytes-long'::bytea),
            retention.pseudonymize(12345::bigint, 'another-key-of-32-bytes-length!!'::bytea),
            'the key matters');
-- no collisions among 100,000 identifiers
SELECT is((SELECT count(DISTINCT retention.pseudonymize(g::bigint, 'retention-demo-key-32-bytes-long'::bytea))
             FROM generate_series(1, 100000) g),
          100000::bigint, '100,000 identifiers, 100,000 pseudonyms');
SELECT is(retention.pseudonymize(NULL::bigint, 'retention-demo-key-32-bytes-long'::bytea), NULL, 'NULL id');

SELECT throws_ok($$SELECT retention.pseudonymize('x', 'short'::bytea)$$, '22023',
                 'pseudonym key has 5 bytes but at least 16 are required', 'short key');
SELECT throws_ok($$SELECT retention.pseudonymize(1::bigint, ''::bytea)$$, '22023',
                 'pseudonym key has 0 bytes but at least 16 are required', 'empty key');
SELECT volatility_is('retention', 'pseudonymize', ARRAY['bigint', 'bytea'], 'immutable');

SELECT * FROM finish();
ROLLBACK;
