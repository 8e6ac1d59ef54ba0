-- The example warehouse (MySQL and MariaDB): the models the example syncs query.
-- Ids of locations, orders, fulfillments, fulfillment orders, inventory items and the price rule match the
-- emulator's demo seed, so every example sync has something real to act on.

DROP TABLE IF EXISTS customers;
CREATE TABLE customers (customer_id VARCHAR(191) PRIMARY KEY, email text NOT NULL, first_name text, last_name text, phone text, note text, loyalty_tier text, deleted_at DATETIME);
INSERT INTO customers (customer_id, email, first_name, last_name, phone, note, loyalty_tier, deleted_at) VALUES
  ('c-1001', 'ada@example.com', 'Ada', 'Lovelace', '+14155550101', 'Prefers email', 'gold', NULL),
  ('c-1002', 'grace@example.com', 'Grace', 'Hopper', '+14155550102', NULL, 'silver', NULL),
  ('c-1003', 'alan@example.com', 'Alan', 'Turing', NULL, 'Wholesale account', 'bronze', NULL),
  ('c-1004', 'edsger@example.com', 'Edsger', 'Dijkstra', '+31205550104', NULL, 'gold', NULL),
  ('c-1005', 'old@example.com', 'Former', 'Customer', NULL, NULL, NULL, '2026-01-01 00:00:00');

DROP TABLE IF EXISTS products;
CREATE TABLE products (handle VARCHAR(191) PRIMARY KEY, title text NOT NULL, description_html text, vendor text, product_type text, status text NOT NULL, season text, options_json JSON NOT NULL, variants_json JSON NOT NULL);
INSERT INTO products (handle, title, description_html, vendor, product_type, status, season, options_json, variants_json) VALUES
  ('trail-runner', 'Trail Runner', '<p>Light shoe for rough ground.</p>', 'Northwind', 'Shoes', 'ACTIVE', 'spring',
  '[{"name":"Size","values":[{"name":"42"},{"name":"43"}]}]',
  '[{"optionValues":[{"optionName":"Size","name":"42"}],"price":"129.00","sku":"TR-42"},{"optionValues":[{"optionName":"Size","name":"43"}],"price":"129.00","sku":"TR-43"}]'),
  ('rain-shell', 'Rain Shell', '<p>Packable waterproof jacket.</p>', 'Northwind', 'Jackets', 'ACTIVE', 'autumn',
  '[{"name":"Color","values":[{"name":"Blue"}]}]',
  '[{"optionValues":[{"optionName":"Color","name":"Blue"}],"price":"189.50","sku":"RS-BLUE"}]'),
  ('wool-socks', 'Wool Socks', '<p>Merino blend.</p>', 'Fjell', 'Accessories', 'DRAFT', 'winter',
  '[{"name":"Title","values":[{"name":"Default Title"}]}]',
  '[{"optionValues":[{"optionName":"Title","name":"Default Title"}],"price":"19.90","sku":"WS-1"}]');

DROP TABLE IF EXISTS inventory_items;
CREATE TABLE inventory_items (inventory_item_id VARCHAR(191) PRIMARY KEY, sku text, unit_cost DECIMAL(12,2), tracked boolean, country_of_origin char(2), hs_code text);
INSERT INTO inventory_items (inventory_item_id, sku, unit_cost, tracked, country_of_origin, hs_code) VALUES
  ('gid://shopify/InventoryItem/7001', 'SEED-TEE-S', 8.25, TRUE, 'PT', '610910'),
  ('gid://shopify/InventoryItem/7002', 'SEED-TEE-M', 8.25, TRUE, 'PT', '610910');

DROP TABLE IF EXISTS inventory_levels;
CREATE TABLE inventory_levels (level_key VARCHAR(191) PRIMARY KEY, inventory_item_id text NOT NULL, location_id text NOT NULL, available integer NOT NULL);
INSERT INTO inventory_levels (level_key, inventory_item_id, location_id, available) VALUES
  ('7001@1001', 'gid://shopify/InventoryItem/7001', 'gid://shopify/Location/1001', 25),
  ('7002@1001', 'gid://shopify/InventoryItem/7002', 'gid://shopify/Location/1001', 40),
  ('7001@1002', 'gid://shopify/InventoryItem/7001', 'gid://shopify/Location/1002', 5);

DROP TABLE IF EXISTS discount_codes;
CREATE TABLE discount_codes (code_key VARCHAR(191) PRIMARY KEY, price_rule_id text NOT NULL, code text NOT NULL);
INSERT INTO discount_codes (code_key, price_rule_id, code) VALUES
  ('winback-001', 'gid://shopify/DiscountCodeNode/2001', 'WINBACK-7KQ2'),
  ('winback-002', 'gid://shopify/DiscountCodeNode/2001', 'WINBACK-9XM4');

DROP TABLE IF EXISTS discount_code_renames;
CREATE TABLE discount_code_renames (code_key VARCHAR(191) PRIMARY KEY, price_rule_id BIGINT NOT NULL, code_id BIGINT NOT NULL, code text NOT NULL, usage_limit BIGINT);
INSERT INTO discount_code_renames (code_key, price_rule_id, code_id, code, usage_limit) VALUES
  ('vip', 2001, 2102, 'VIP-2027', 500);

DROP TABLE IF EXISTS sms_subscribers;
CREATE TABLE sms_subscribers (phone VARCHAR(191) PRIMARY KEY, locale text NOT NULL);
INSERT INTO sms_subscribers (phone, locale) VALUES
  ('+14155550101', 'en'),
  ('+14155550102', 'en'),
  ('+31205550104', 'nl');

DROP TABLE IF EXISTS product_seo;
CREATE TABLE product_seo (handle VARCHAR(191) PRIMARY KEY, seo_title text NOT NULL, seo_description text);
INSERT INTO product_seo (handle, seo_title, seo_description) VALUES
  ('trail-runner', 'Trail Runner: light trail running shoe', 'Grip and cushioning for rough ground.'),
  ('rain-shell', 'Rain Shell: packable waterproof jacket', NULL);

DROP TABLE IF EXISTS fulfillment_events;
CREATE TABLE fulfillment_events (event_id VARCHAR(191) PRIMARY KEY, order_id text NOT NULL, fulfillment_id text NOT NULL, status text NOT NULL, message text, happened_at DATETIME, city text, country text);
INSERT INTO fulfillment_events (event_id, order_id, fulfillment_id, status, message, happened_at, city, country) VALUES
  ('ev-1', 'gid://shopify/Order/3001', 'gid://shopify/Fulfillment/4001', 'IN_TRANSIT', 'Left the sorting center', '2026-11-20 08:15:00', 'Leipzig', 'DE'),
  ('ev-2', 'gid://shopify/Order/3001', 'gid://shopify/Fulfillment/4001', 'OUT_FOR_DELIVERY', NULL, '2026-11-21 07:02:00', 'Berlin', 'DE');

DROP TABLE IF EXISTS fulfillment_order_actions;
CREATE TABLE fulfillment_order_actions (action_id VARCHAR(191) PRIMARY KEY, action text NOT NULL, fulfillment_order_id text NOT NULL, reason text, reason_notes text, notify_merchant boolean, new_location_id text, fulfill_at DATETIME, message text);
INSERT INTO fulfillment_order_actions (action_id, action, fulfillment_order_id, reason, reason_notes, notify_merchant, new_location_id, fulfill_at, message) VALUES
  ('a-1', 'hold', 'gid://shopify/FulfillmentOrder/5001', 'HIGH_RISK_OF_FRAUD', 'Flagged by the risk model', TRUE, NULL, NULL, NULL),
  ('a-2', 'release-hold', 'gid://shopify/FulfillmentOrder/5002', NULL, NULL, NULL, NULL, NULL, NULL),
  ('a-3', 'move', 'gid://shopify/FulfillmentOrder/5003', NULL, NULL, NULL, 'gid://shopify/Location/1002', NULL, NULL),
  ('a-4', 'reschedule', 'gid://shopify/FulfillmentOrder/5007', NULL, NULL, NULL, NULL, '2026-12-15 09:00:00', NULL),
  ('a-5', 'open', 'gid://shopify/FulfillmentOrder/5004', NULL, NULL, NULL, NULL, NULL, NULL),
  ('a-6', 'cancel', 'gid://shopify/FulfillmentOrder/5005', NULL, NULL, NULL, NULL, NULL, NULL),
  ('a-7', 'close', 'gid://shopify/FulfillmentOrder/5006', NULL, NULL, NULL, NULL, NULL, 'Partially fulfilled by the 3PL');
