-- =============================================================================
-- seglens sample CRM data generator (DuckDB SQL)
-- =============================================================================
--
-- Run on a fresh, empty, writable database after setting three variables:
--
--     SET VARIABLE customers = 100000;          -- BIGINT: number of customers
--     SET VARIABLE seed      = 42;              -- BIGINT: seed
--     SET VARIABLE as_of     = DATE '2026-03-01'; -- snapshot date
--
-- It creates two tables:
--
--   customers  one row per customer (customer_id 1..N), ~28 attributes
--   events     ~10 events per customer on average, within the 180 days
--              before as_of (email_open, email_click, purchase, cart_add,
--              page_view), consistent with the customer attributes
--
-- The data is a snapshot taken at midnight at the start of as_of: every
-- date is <= as_of - 1 and every timestamp is < as_of 00:00.
--
-- Determinism: random() / setseed() are not used (they are not reproducible
-- with several threads). Every pseudo-random number is a pure function of
-- (customer_id, seed, salt) -- or (customer_id, slot, seed, salt) for events --
-- via hash(), so the same N, seed and as_of always produce exactly the same
-- rows, in the same order, whatever the thread count. A customer's row and
-- events depend only on (customer_id, seed, as_of), not on N: the first 1,000
-- customers of a 1,000,000-customer sample equal a 1,000-customer sample.
--
-- Adapting: the weight tables below (regions, cities, languages) are plain
-- VALUES lists; integer weights are relative (they need not sum to 100).
-- Each attribute uses its own salt (the second argument of sl_u), so
-- changing one attribute's formula does not change the others.
-- =============================================================================


-- -----------------------------------------------------------------------------
-- Helpers (temporary; dropped at the end of the script)
-- -----------------------------------------------------------------------------

-- Uniform pseudo-random number in [0, 1) for (customer, salt).
CREATE OR REPLACE TEMP MACRO sl_u(id, salt) AS
    (hash(id, getvariable('seed')::BIGINT, salt) % 1000000007) / 1000000007.0;

-- Uniform pseudo-random number in [0, 1) for (customer, event slot, salt).
CREATE OR REPLACE TEMP MACRO sl_u2(id, k, salt) AS
    (hash(id, k, getvariable('seed')::BIGINT, salt) % 1000000007) / 1000000007.0;

-- Region mix (relative weights). ord only fixes a deterministic order.
CREATE OR REPLACE TEMP TABLE sl_regions AS
SELECT * FROM (VALUES
    (1, 'North India',     24),
    (2, 'West India',      22),
    (3, 'South India',     20),
    (4, 'East India',      10),
    (5, 'Central India',    7),
    (6, 'Northeast India',  3),
    (7, 'Diaspora US',      6),
    (8, 'Diaspora UK',      5),
    (9, 'Diaspora Gulf',    3)
) t(ord, region, weight);

-- Cities per region (relative weights within the region).
CREATE OR REPLACE TEMP TABLE sl_cities AS
SELECT * FROM (VALUES
    ( 1, 'North India',     'Delhi',             'New Delhi',          10),
    ( 2, 'North India',     'Uttar Pradesh',     'Lucknow',             4),
    ( 3, 'North India',     'Uttar Pradesh',     'Noida',               3),
    ( 4, 'North India',     'Uttar Pradesh',     'Kanpur',              2),
    ( 5, 'North India',     'Uttar Pradesh',     'Varanasi',            1),
    ( 6, 'North India',     'Haryana',           'Gurugram',            4),
    ( 7, 'North India',     'Haryana',           'Faridabad',           1),
    ( 8, 'North India',     'Punjab',            'Ludhiana',            2),
    ( 9, 'North India',     'Punjab',            'Amritsar',            2),
    (10, 'North India',     'Chandigarh',        'Chandigarh',          2),
    (11, 'North India',     'Rajasthan',         'Jaipur',              4),
    (12, 'North India',     'Rajasthan',         'Udaipur',             1),
    (13, 'North India',     'Himachal Pradesh',  'Shimla',              1),
    (14, 'North India',     'Jammu and Kashmir', 'Jammu',               1),
    (15, 'West India',      'Maharashtra',       'Mumbai',             12),
    (16, 'West India',      'Maharashtra',       'Pune',                7),
    (17, 'West India',      'Maharashtra',       'Nagpur',              2),
    (18, 'West India',      'Maharashtra',       'Nashik',              2),
    (19, 'West India',      'Gujarat',           'Ahmedabad',           6),
    (20, 'West India',      'Gujarat',           'Surat',               4),
    (21, 'West India',      'Gujarat',           'Vadodara',            2),
    (22, 'West India',      'Goa',               'Panaji',              1),
    (23, 'South India',     'Karnataka',         'Bengaluru',          12),
    (24, 'South India',     'Karnataka',         'Mysuru',              1),
    (25, 'South India',     'Tamil Nadu',        'Chennai',             8),
    (26, 'South India',     'Tamil Nadu',        'Coimbatore',          2),
    (27, 'South India',     'Telangana',         'Hyderabad',           9),
    (28, 'South India',     'Andhra Pradesh',    'Visakhapatnam',       2),
    (29, 'South India',     'Andhra Pradesh',    'Vijayawada',          1),
    (30, 'South India',     'Kerala',            'Kochi',               3),
    (31, 'South India',     'Kerala',            'Thiruvananthapuram',  2),
    (32, 'East India',      'West Bengal',       'Kolkata',             8),
    (33, 'East India',      'West Bengal',       'Siliguri',            1),
    (34, 'East India',      'Odisha',            'Bhubaneswar',         2),
    (35, 'East India',      'Bihar',             'Patna',               2),
    (36, 'East India',      'Jharkhand',         'Ranchi',              1),
    (37, 'Central India',   'Madhya Pradesh',    'Indore',              4),
    (38, 'Central India',   'Madhya Pradesh',    'Bhopal',              3),
    (39, 'Central India',   'Chhattisgarh',      'Raipur',              2),
    (40, 'Northeast India', 'Assam',             'Guwahati',            4),
    (41, 'Northeast India', 'Meghalaya',         'Shillong',            1),
    (42, 'Northeast India', 'Manipur',           'Imphal',              1),
    (43, 'Northeast India', 'Tripura',           'Agartala',            1),
    (44, 'Diaspora US',     'New York',          'New York',            4),
    (45, 'Diaspora US',     'New Jersey',        'Edison',              2),
    (46, 'Diaspora US',     'New Jersey',        'Jersey City',         2),
    (47, 'Diaspora US',     'California',        'San Jose',            3),
    (48, 'Diaspora US',     'Texas',             'Houston',             2),
    (49, 'Diaspora US',     'Illinois',          'Chicago',             1),
    (50, 'Diaspora UK',     'England',           'London',              6),
    (51, 'Diaspora UK',     'England',           'Leicester',           2),
    (52, 'Diaspora UK',     'England',           'Birmingham',          2),
    (53, 'Diaspora Gulf',   'Dubai',             'Dubai',               5),
    (54, 'Diaspora Gulf',   'Abu Dhabi',         'Abu Dhabi',           2),
    (55, 'Diaspora Gulf',   'Qatar',             'Doha',                2),
    (56, 'Diaspora Gulf',   'Oman',              'Muscat',              1)
) t(ord, region, state, city, weight);

-- Preferred language per state (relative weights within the state).
CREATE OR REPLACE TEMP TABLE sl_languages AS
SELECT * FROM (VALUES
    ('Delhi',             'hi', 60), ('Delhi',             'en', 30), ('Delhi',             'pa', 10),
    ('Uttar Pradesh',     'hi', 85), ('Uttar Pradesh',     'en', 15),
    ('Haryana',           'hi', 75), ('Haryana',           'en', 20), ('Haryana',           'pa',  5),
    ('Punjab',            'pa', 60), ('Punjab',            'hi', 25), ('Punjab',            'en', 15),
    ('Chandigarh',        'pa', 40), ('Chandigarh',        'hi', 35), ('Chandigarh',        'en', 25),
    ('Rajasthan',         'hi', 85), ('Rajasthan',         'en', 15),
    ('Himachal Pradesh',  'hi', 85), ('Himachal Pradesh',  'en', 15),
    ('Jammu and Kashmir', 'hi', 70), ('Jammu and Kashmir', 'en', 20), ('Jammu and Kashmir', 'pa', 10),
    ('Maharashtra',       'mr', 50), ('Maharashtra',       'hi', 25), ('Maharashtra',       'en', 20), ('Maharashtra', 'gu', 5),
    ('Gujarat',           'gu', 65), ('Gujarat',           'hi', 20), ('Gujarat',           'en', 15),
    ('Goa',               'en', 45), ('Goa',               'mr', 30), ('Goa',               'hi', 25),
    ('Karnataka',         'kn', 45), ('Karnataka',         'en', 30), ('Karnataka',         'hi', 10), ('Karnataka',   'ta', 8), ('Karnataka', 'te', 7),
    ('Tamil Nadu',        'ta', 75), ('Tamil Nadu',        'en', 25),
    ('Telangana',         'te', 65), ('Telangana',         'en', 20), ('Telangana',         'hi', 15),
    ('Andhra Pradesh',    'te', 85), ('Andhra Pradesh',    'en', 15),
    ('Kerala',            'ml', 75), ('Kerala',            'en', 25),
    ('West Bengal',       'bn', 75), ('West Bengal',       'en', 15), ('West Bengal',       'hi', 10),
    ('Odisha',            'en', 55), ('Odisha',            'hi', 45),
    ('Bihar',             'hi', 90), ('Bihar',             'en', 10),
    ('Jharkhand',         'hi', 85), ('Jharkhand',         'en', 15),
    ('Madhya Pradesh',    'hi', 85), ('Madhya Pradesh',    'en', 15),
    ('Chhattisgarh',      'hi', 85), ('Chhattisgarh',      'en', 15),
    ('Assam',             'en', 50), ('Assam',             'hi', 30), ('Assam',             'bn', 20),
    ('Meghalaya',         'en', 70), ('Meghalaya',         'hi', 30),
    ('Manipur',           'en', 70), ('Manipur',           'hi', 30),
    ('Tripura',           'bn', 60), ('Tripura',           'en', 25), ('Tripura',           'hi', 15),
    ('New York',          'en', 65), ('New York',          'hi', 15), ('New York',          'bn', 10), ('New York',    'pa', 5), ('New York', 'gu', 5),
    ('New Jersey',        'en', 60), ('New Jersey',        'gu', 15), ('New Jersey',        'hi', 15), ('New Jersey',  'te', 10),
    ('California',        'en', 60), ('California',        'te', 15), ('California',        'ta', 10), ('California',  'hi', 10), ('California', 'pa', 5),
    ('Texas',             'en', 60), ('Texas',             'te', 15), ('Texas',             'hi', 15), ('Texas',       'gu', 10),
    ('Illinois',          'en', 65), ('Illinois',          'hi', 15), ('Illinois',          'gu', 10), ('Illinois',    'te', 10),
    ('England',           'en', 60), ('England',           'pa', 12), ('England',           'gu', 12), ('England',     'hi', 10), ('England', 'ta', 3), ('England', 'bn', 3),
    ('Dubai',             'en', 40), ('Dubai',             'hi', 25), ('Dubai',             'ml', 25), ('Dubai',       'ta', 10),
    ('Abu Dhabi',         'en', 35), ('Abu Dhabi',         'ml', 35), ('Abu Dhabi',         'hi', 20), ('Abu Dhabi',   'ta', 10),
    ('Qatar',             'en', 35), ('Qatar',             'ml', 35), ('Qatar',             'hi', 20), ('Qatar',       'ta', 10),
    ('Oman',              'en', 35), ('Oman',              'ml', 30), ('Oman',              'hi', 25), ('Oman',        'ta', 10)
) t(state, language, weight);

-- Weighted picks are done with equi-joins on "slots": an item of weight w
-- owns w consecutive slot numbers, and a customer picks slot
-- floor(u * total_weight). City and language slots are keyed by
-- parent_id * 1000000 + slot, so each join key is computed from the rows
-- already joined (this keeps the join order customers -> region -> city ->
-- language, and the equi-joins against these tiny tables are very fast).

-- slot -> region, plus the region's id and its number of city slots
CREATE OR REPLACE TEMP TABLE sl_region_slots AS
WITH r AS (
    SELECT ord AS region_id, region, weight,
           (sum(weight) OVER (ORDER BY ord) - weight)::BIGINT AS lo,
           (SELECT sum(c.weight) FROM sl_cities c WHERE c.region = sl_regions.region)::BIGINT AS city_slots
    FROM sl_regions
)
SELECT (r.lo + s.i)::BIGINT AS slot, r.region_id, r.region, r.city_slots
FROM r, LATERAL (SELECT unnest(range(r.weight)) AS i) s;

-- region_id * 1000000 + slot -> state, city, plus the state's id and its number of language slots
CREATE OR REPLACE TEMP TABLE sl_city_slots AS
WITH c AS (
    SELECT g.ord AS region_id, c.state, c.city, c.weight,
           (sum(c.weight) OVER (PARTITION BY c.region ORDER BY c.ord) - c.weight)::BIGINT AS lo,
           dense_rank() OVER (ORDER BY c.state) AS state_id,
           (SELECT sum(l.weight) FROM sl_languages l WHERE l.state = c.state)::BIGINT AS lang_slots
    FROM sl_cities c JOIN sl_regions g USING (region)
)
SELECT (c.region_id * 1000000 + c.lo + s.i)::BIGINT AS city_key, c.state_id, c.state, c.city, c.lang_slots
FROM c, LATERAL (SELECT unnest(range(c.weight)) AS i) s;

-- state_id * 1000000 + slot -> language
CREATE OR REPLACE TEMP TABLE sl_language_slots AS
WITH l AS (
    SELECT s.state_id, l.language, l.weight,
           (sum(l.weight) OVER (PARTITION BY l.state ORDER BY l.language) - l.weight)::BIGINT AS lo
    FROM sl_languages l
    JOIN (SELECT DISTINCT state, state_id FROM sl_city_slots) s USING (state)
)
SELECT (l.state_id * 1000000 + l.lo + s.i)::BIGINT AS lang_key, l.language
FROM l, LATERAL (SELECT unnest(range(l.weight)) AS i) s;


-- -----------------------------------------------------------------------------
-- customers
-- -----------------------------------------------------------------------------
CREATE TABLE customers AS
WITH
ids AS (
    SELECT range AS customer_id
    FROM range(1, getvariable('customers')::BIGINT + 1)
),

-- All the independent uniform draws, one salt per attribute.
draws AS (
    SELECT customer_id,
        sl_u(customer_id,  1) AS u_region,
        sl_u(customer_id,  2) AS u_city,
        sl_u(customer_id,  3) AS u_language,
        sl_u(customer_id,  4) AS u_tenure,
        sl_u(customer_id,  5) AS u_activity,   -- latent "how engaged is this person"
        sl_u(customer_id,  6) AS u_buyer,
        sl_u(customer_id,  7) AS u_orders,
        sl_u(customer_id,  8) AS u_order_recency,
        sl_u(customer_id,  9) AS u_aov1,
        sl_u(customer_id, 10) AS u_aov2,
        sl_u(customer_id, 11) AS u_login,
        sl_u(customer_id, 12) AS u_unsub,
        sl_u(customer_id, 13) AS u_sends,
        sl_u(customer_id, 14) AS u_open_rate,
        sl_u(customer_id, 15) AS u_opens,
        sl_u(customer_id, 16) AS u_click_rate,
        sl_u(customer_id, 17) AS u_clicks,
        sl_u(customer_id, 18) AS u_eng_noise,
        sl_u(customer_id, 19) AS u_churn_noise,
        sl_u(customer_id, 20) AS u_holi,
        sl_u(customer_id, 21) AS u_onboarding,
        sl_u(customer_id, 22) AS u_app,
        sl_u(customer_id, 23) AS u_push,
        sl_u(customer_id, 24) AS u_sms,
        sl_u(customer_id, 25) AS u_whatsapp,
        sl_u(customer_id, 26) AS u_channel,
        sl_u(customer_id, 27) AS u_gender,
        sl_u(customer_id, 28) AS u_age,
        -- independent draws deciding which attributes are missing (NULL)
        sl_u(customer_id, 90) AS u_null_age,
        sl_u(customer_id, 91) AS u_null_city,
        sl_u(customer_id, 92) AS u_null_login,
        sl_u(customer_id, 93) AS u_null_engagement,
        sl_u(customer_id, 94) AS u_null_channel
    FROM ids
),

-- Geography and language via the slot tables.
region_total AS (
    SELECT sum(weight)::BIGINT AS region_slots FROM sl_regions
),
geo AS (
    SELECT d.*, r.region, c.state, c.city, l.language
    FROM draws d
    CROSS JOIN region_total t
    JOIN sl_region_slots   r ON r.slot = floor(d.u_region * t.region_slots)::BIGINT
    JOIN sl_city_slots     c ON c.city_key = r.region_id * 1000000 + floor(d.u_city * r.city_slots)::BIGINT
    JOIN sl_language_slots l ON l.lang_key = c.state_id * 1000000 + floor(d.u_language * c.lang_slots)::BIGINT
),

-- Tenure, activity and purchasing.
s1 AS (
    SELECT *,
        region LIKE 'Diaspora%' AS diaspora,
        -- days since signup, 1..1825 (~5 years), skewed towards recent signups
        (1 + floor(1825 * pow(u_tenure, 1.25)))::INTEGER AS tenure,
        u_activity AS a
    FROM geo
),
s2 AS (
    SELECT *,
        -- ~25% never ordered; new and inactive customers more often
        u_buyer >= 0.13 + 0.30 * greatest(0.0, 1 - tenure / 120.0) + 0.18 * (1 - a) AS buyer
    FROM s1
),
s3 AS (
    SELECT *,
        CASE WHEN buyer THEN
            -- 1 + a geometric-like count; active and long-tenured customers order more
            least(400, 1 + floor(-ln(1 - u_orders) * (0.4 + 7 * pow(a, 1.5)) * sqrt(tenure / 365.0)))::INTEGER
        ELSE 0 END AS orders_count,
        -- days since last order, in 1..tenure: exponential with a mean of 60 days for
        -- the most active customers up to ~3 years for the least active (wrapped
        -- into the tenure)
        CASE WHEN buyer THEN
            (1 + floor(-ln(1 - u_order_recency) * (60 + 1000 * (1 - a)))::BIGINT % tenure)::INTEGER
        END AS days_since_order,
        -- average order value: log-normal, median ~INR 1,100
        least(60000.0, greatest(99.0,
            exp(ln(1100) + 0.8 * sqrt(-2 * ln(1 - u_aov1)) * cos(2 * pi() * u_aov2)))) AS aov
    FROM s2
),
s4 AS (
    SELECT *,
        -- days since last login, 1..tenure, never before the last order
        least(tenure, coalesce(days_since_order, tenure),
              (1 + floor(-ln(1 - u_login) * (0.5 + 25 * pow(1 - a, 4))))::INTEGER) AS days_since_login,
        -- ~6% unsubscribed from email, more among inactive customers
        u_unsub < 0.02 + 0.08 * (1 - a) AS unsubscribed,
        u_app < (0.35 + 0.45 * a) * CASE WHEN diaspora THEN 0.8 ELSE 1.0 END AS app_installed
    FROM s3
),
s5 AS (
    SELECT *,
        -- email sends in the last 90 days (0 if unsubscribed): 4..23, up to ~2 per week
        CASE WHEN unsubscribed THEN 0
             ELSE floor(least(tenure, 90) / 90.0 * (4 + 20 * u_sends))::INTEGER
        END AS sends,
        least(0.95, 0.03 + 0.6 * a * (0.5 + u_open_rate)) AS open_rate,
        least(0.95, 0.05 + 0.35 * a * u_click_rate)        AS click_rate
    FROM s4
),
s6 AS (
    SELECT *,
        least(sends, floor(sends * open_rate + u_opens))::INTEGER AS opens
    FROM s5
),
s7 AS (
    SELECT *,
        least(opens, floor(opens * click_rate + u_clicks))::INTEGER AS clicks
    FROM s6
),
s8 AS (
    SELECT *,
        -- engagement before NULLs are injected (0..100)
        least(100, greatest(0, round(
              45 * a
            + 25 * CASE WHEN sends > 0 THEN opens / sends ELSE 0.3 * a END
            + 30 * exp(-days_since_login / 10.0)
            + 16 * (u_eng_noise - 0.5))))::INTEGER AS engagement
    FROM s7
),
s9 AS (
    SELECT *,
        -- churn risk: high when engagement is low and the last order/login is old
        round(1 / (1 + exp(-(
              -3.6
            + 4.0 * (1 - engagement / 100.0)
            + 2.0 * least(1.0, coalesce(days_since_order, tenure) / 180.0)
            + 1.0 * least(1.0, days_since_login / 60.0)
            + 1.5 * (u_churn_noise - 0.5)))), 4) AS churn
    FROM s8
)
SELECT
    customer_id,
    'c' || customer_id || '@example.com'                               AS email,
    getvariable('as_of')::DATE - tenure                                      AS signup_date,
    region,
    state,
    CASE WHEN u_null_city < 0.05 THEN NULL ELSE city END               AS city,
    language,
    CASE WHEN u_null_age < 0.05 THEN NULL
         WHEN u_age < 0.18 THEN '18-24'
         WHEN u_age < 0.52 THEN '25-34'
         WHEN u_age < 0.77 THEN '35-44'
         WHEN u_age < 0.91 THEN '45-54'
         ELSE '55+' END                                                AS age_band,
    CASE WHEN u_gender < 0.47 THEN 'male'
         WHEN u_gender < 0.94 THEN 'female'
         WHEN u_gender < 0.96 THEN 'non-binary'
         ELSE NULL END                                                 AS gender,
    CASE WHEN u_null_channel < 0.05 THEN NULL
         WHEN u_channel < 0.33 OR (u_channel >= 0.65 AND u_channel < 0.85 AND NOT app_installed)
              THEN 'email'
         WHEN u_channel < 0.65 THEN 'whatsapp'
         WHEN u_channel < 0.85 THEN 'push'
         ELSE 'sms' END                                                AS channel_pref,
    CASE WHEN orders_count * aov >= 100000 THEN 'platinum'
         WHEN orders_count * aov >=  25000 THEN 'gold'
         WHEN orders_count * aov >=   5000 THEN 'silver'
         ELSE 'bronze' END                                             AS loyalty_tier,
    orders_count,
    round(orders_count * aov, 2)::DECIMAL(12, 2)                       AS lifetime_spend,
    getvariable('as_of')::DATE - days_since_order                            AS last_order_date,
    CASE WHEN u_null_login < 0.05 THEN NULL
         ELSE getvariable('as_of')::DATE - days_since_login END              AS last_login_date,
    sends                                                              AS email_sends_90d,
    opens                                                              AS email_opens_90d,
    clicks                                                             AS email_clicks_90d,
    unsubscribed,
    app_installed,
    app_installed AND u_push < 0.7                                     AS push_opt_in,
    u_sms < CASE WHEN diaspora THEN 0.25 ELSE 0.55 END                 AS sms_opt_in,
    u_whatsapp < CASE WHEN diaspora THEN 0.45 ELSE 0.65 END            AS whatsapp_opt_in,
    -- new signups have often not finished onboarding yet
    u_onboarding < (0.50 + 0.45 * a) * least(1.0, 0.4 + tenure / 10.0) AS onboarding_completed,
    CASE WHEN u_null_engagement < 0.05 THEN NULL ELSE engagement END   AS engagement_score,
    churn                                                              AS churn_risk,
    -- bought Holi colours: only buyers, far more common in North/West India
    buyer AND u_holi < CASE region
        WHEN 'North India'     THEN 0.17
        WHEN 'West India'      THEN 0.15
        WHEN 'Central India'   THEN 0.11
        WHEN 'East India'      THEN 0.06
        WHEN 'Northeast India' THEN 0.04
        WHEN 'South India'     THEN 0.03
        ELSE 0.06 END                                                  AS holi_color_buyer
FROM s9
ORDER BY customer_id;


-- -----------------------------------------------------------------------------
-- events
-- -----------------------------------------------------------------------------
-- Generated from the customers table so the two agree:
--   * email_open / email_click in the last 90 days = email_opens_90d / email_clicks_90d
--     (each click follows its open by 1-55 minutes)
--   * the latest purchase falls on last_order_date; a customer whose last order is
--     more than 180 days old has no purchase events
--   * each purchase is preceded by a cart_add; extra cart_adds are abandoned carts
--   * page views and cart adds happen after signup and not after last_login_date
CREATE TABLE events AS
WITH
plan AS (
    SELECT
        customer_id,
        signup_date,
        last_order_date,
        lifetime_spend / nullif(orders_count, 0)                              AS avg_order,
        engagement,
        email_opens_90d                                                       AS n_open,
        email_clicks_90d                                                      AS n_click,
        -- purchases in the 180-day window (the last one is on last_order_date)
        CASE WHEN last_order_date >= getvariable('as_of')::DATE - 180 THEN
            1 + least(orders_count - 1, floor(
                    (orders_count - 1) * least(1.0, 180.0 / (getvariable('as_of')::DATE - signup_date))
                    * (0.5 + sl_u(customer_id, 201)) + sl_u(customer_id, 202)))::INTEGER
        ELSE 0 END                                                            AS n_purchase,
        -- web/app activity window: [max(signup, as_of - 180 days), min(as_of, last login + 1 day))
        greatest(signup_date, getvariable('as_of')::DATE - 180)::TIMESTAMP          AS act_start,
        least(getvariable('as_of')::DATE, coalesce(last_login_date + 1, getvariable('as_of')::DATE))::TIMESTAMP AS act_end
    FROM (SELECT *, coalesce(engagement_score, 30) / 100.0 AS engagement FROM customers)
),
counts AS (
    SELECT *,
        CASE WHEN act_end > act_start THEN
            floor(-ln(1 - sl_u(customer_id, 203)) * (0.2 + 1.5 * engagement))::INTEGER
        ELSE 0 END                                                            AS n_abandoned,
        CASE WHEN act_end > act_start THEN
            floor(-ln(1 - sl_u(customer_id, 204)) * (0.5 + 5.0 * engagement))::INTEGER
        ELSE 0 END                                                            AS n_view
    FROM plan
),
-- one row per event: slot idx in 0 .. total-1, typed by ranges of idx
slots AS (
    SELECT *, unnest(range(n_open + n_click + 2 * n_purchase + n_abandoned + n_view)) AS idx
    FROM counts
),
typed AS (
    SELECT *,
        CASE WHEN idx < n_open                                     THEN 'email_open'
             WHEN idx < n_open + n_click                           THEN 'email_click'
             WHEN idx < n_open + n_click + n_purchase              THEN 'purchase'
             WHEN idx < n_open + n_click + 2 * n_purchase + n_abandoned THEN 'cart_add'
             ELSE 'page_view' END                                  AS event_type,
        -- k: index of the event within its group
        CASE WHEN idx < n_open                        THEN idx
             WHEN idx < n_open + n_click              THEN idx - n_open
             WHEN idx < n_open + n_click + n_purchase THEN idx - n_open - n_click
             ELSE idx - n_open - n_click - n_purchase END          AS k
    FROM slots
),
timed AS (
    SELECT customer_id, event_type,
        CASE
            -- open k: uniform in [max(signup, as_of - 90 days), as_of - 1 hour)
            -- click k: open k + 1..55 minutes (clicks k < n_click <= n_open)
            WHEN event_type IN ('email_open', 'email_click') THEN
                greatest(signup_date, getvariable('as_of')::DATE - 90)::TIMESTAMP
                + to_microseconds(floor(sl_u2(customer_id, k, 301) * (
                      epoch_us(getvariable('as_of')::DATE::TIMESTAMP - INTERVAL 1 HOUR)
                    - epoch_us(greatest(signup_date, getvariable('as_of')::DATE - 90)::TIMESTAMP)))::BIGINT)
                + CASE WHEN event_type = 'email_click'
                       THEN to_microseconds(floor((1 + 54 * sl_u2(customer_id, k, 302)) * 60e6)::BIGINT)
                       ELSE INTERVAL 0 SECOND END
            -- purchase 0: on last_order_date; purchase k > 0: in [act_start, last_order_date + 1 day)
            -- cart k < n_purchase: 2..60 minutes before purchase k (not before act_start)
            WHEN event_type = 'purchase' OR (event_type = 'cart_add' AND k < n_purchase) THEN
                greatest(act_start,
                    CASE WHEN k = 0 THEN
                        last_order_date::TIMESTAMP
                        + to_microseconds(floor(sl_u2(customer_id, k, 303) * 86400e6)::BIGINT)
                    ELSE
                        act_start + to_microseconds(floor(sl_u2(customer_id, k, 303) * (
                            epoch_us((last_order_date + 1)::TIMESTAMP) - epoch_us(act_start)))::BIGINT)
                    END
                    - CASE WHEN event_type = 'cart_add'
                           THEN to_microseconds(floor((2 + 58 * sl_u2(customer_id, k, 304)) * 60e6)::BIGINT)
                           ELSE INTERVAL 0 SECOND END)
            -- abandoned carts and page views: uniform in the activity window
            ELSE
                act_start + to_microseconds(floor(sl_u2(customer_id, k, CASE event_type WHEN 'cart_add' THEN 305 ELSE 306 END)
                    * (epoch_us(act_end) - epoch_us(act_start)))::BIGINT)
        END AS event_time,
        CASE WHEN event_type = 'purchase' THEN
            round(avg_order * (0.6 + 0.8 * sl_u2(customer_id, k, 307)), 2)::DECIMAL(12, 2)
        END AS amount
    FROM typed
)
SELECT customer_id, event_time, event_type, amount
FROM timed
ORDER BY customer_id, event_time, event_type, amount;


-- -----------------------------------------------------------------------------
-- Clean up the helpers
-- -----------------------------------------------------------------------------
DROP TABLE sl_language_slots;
DROP TABLE sl_city_slots;
DROP TABLE sl_region_slots;
DROP TABLE sl_languages;
DROP TABLE sl_cities;
DROP TABLE sl_regions;
DROP MACRO sl_u2;
DROP MACRO sl_u;
