-- Two CRM databases whose schemas share nothing with the sample's (tests/common/foreign.rs).
-- Deterministic: every value is arithmetic on the row number, dates relative to getvariable('as_of').
-- The file holds two scripts split at the line `-- club`: 'shop' (a VARCHAR key named *_ref, a
-- purchases table, DECIMAL money, a quoted column name, planted duplicate emails and phones) and
-- 'club' (a table name with a space, a BIGINT key, an activity table with its own unique id,
-- timestamps, near-duplicate city spellings).
CREATE TABLE shoppers AS
SELECT
    'S' || lpad(i::VARCHAR, 6, '0')                                            AS shopper_ref,
    CASE i % 7 WHEN 0 THEN NULL ELSE 'Shopper ' || i END                       AS "Full Name",
    CASE WHEN i % 50 = 0 THEN ' Dup' || (i % 3) || '@Mail.test '
         WHEN i % 50 = 1 THEN 'dup' || (i % 3) || '@mail.test'
         ELSE 'p' || i || '@mail.test' END                                     AS mail_address,
    CASE WHEN i % 40 = 0 THEN '+91 98765-00' || lpad((i % 4)::VARCHAR, 3, '0')
         ELSE '98765' || lpad(i::VARCHAR, 5, '0') END                          AS phone_no,
    CASE WHEN i % 23 = 0 THEN NULL
         ELSE ['Bargain Hunter', 'Loyalist', 'Newcomer', 'Gifter', 'Tech', 'Seasonal',
               'Lapsed', 'Whale', 'Browser', 'Student'][1 + (i * 7) % 10] END   AS segment_label,
    ['IN', 'AE', 'UK', 'US'][1 + (i * 3) % 4]                                   AS home_country,
    CASE WHEN i % 11 = 0 THEN NULL ELSE ((i * 37) % 5000)::DECIMAL(12, 2) + 0.5 END AS total_spent,
    ((i * 13) % 9)::INTEGER                                                    AS purchase_count,
    ((i * 17) % 45)::INTEGER                                                   AS purchase_days,
    (10 + i % 5)::INTEGER                                                      AS newsletter_sends,
    ((i * 3) % 10)::INTEGER                                                    AS newsletter_opens,
    ((i * 3) % 10 / 3)::INTEGER                                                AS newsletter_clicks,
    (i % 3 = 0)                                                                AS is_member,
    CASE WHEN i % 13 = 0 THEN NULL ELSE ((i * 29) % 1000) / 10.0 END           AS loyalty_score,
    CASE WHEN i % 9 = 0 THEN NULL ELSE getvariable('as_of')::DATE - ((i * 31) % 400)::INTEGER END AS last_visit
FROM range(1, getvariable('n') + 1) r(i);

CREATE TABLE purchase_records AS
SELECT
    row_number() OVER (ORDER BY s.i, k)                                        AS record_no,
    'S' || lpad(s.i::VARCHAR, 6, '0')                                          AS shopper_ref,
    (((s.i * 7 + k * 13) % 300) + 0.25)::DECIMAL(10, 2)                        AS amount,
    getvariable('as_of')::DATE - ((s.i * 5 + k * 41) % 365)::INTEGER - 1       AS bought_on,
    ['web', 'store', 'app'][1 + (s.i + k) % 3]                                 AS channel
FROM range(1, getvariable('n') + 1) s(i), range(0, 4) t(k)
WHERE k < s.i % 5;  -- 0 to 4 purchases each; a fifth of shoppers have none

-- club
CREATE TABLE "Club Members" AS
SELECT
    i::BIGINT                                                                  AS member_id,
    ['Bronze', 'Silver', 'Gold', 'Platinum'][1 + (i * 5) % 4]                   AS tier,
    CASE WHEN i % 17 = 0 THEN NULL ELSE ['referral', 'ads', 'organic'][1 + i % 3] END AS "Signup Channel",
    CASE WHEN i % 10 = 0 THEN NULL ELSE ((i * 53) % 2000) * 1.5::DOUBLE END           AS "Revenue",
    ((i * 7) % 30)::INTEGER                                                    AS visits,
    (5 + i % 4)::INTEGER                                                       AS sms_sent,
    ((i * 7) % 5)::INTEGER                                                     AS sms_clicked,
    (i % 4 <> 0)                                                               AS opted_in,
    ((i * 41) % 100) / 100.0                                                   AS churn_score,
    getvariable('as_of')::DATE - (100 + (i * 19) % 900)::INTEGER               AS joined_on,
    CASE WHEN i % 8 = 0 THEN NULL
         ELSE getvariable('as_of')::DATE::TIMESTAMP - INTERVAL (((i * 23) % 200) * 3600 * 24 + (i % 86400)) SECOND END AS last_active,
    ['Pune', 'Mumbai', 'Delhi', ' pune', 'PUNE', 'mumbai ', 'Chennai', 'Kolkata'][1 + (i * 11) % 8] AS city
FROM range(1, getvariable('n') + 1) r(i);

CREATE TABLE activity AS
SELECT
    (m.i * 10 + k)::BIGINT                                                     AS event_id,
    m.i::BIGINT                                                                AS member_id,
    ['visit', 'redeem', 'refer'][1 + (m.i + k) % 3]                            AS kind,
    getvariable('as_of')::DATE::TIMESTAMP - INTERVAL (((m.i * 3 + k * 29) % 120) * 86400 + 3600) SECOND AS happened_at,
    ((m.i + k * 11) % 50)::DOUBLE                                              AS points
FROM range(1, getvariable('n') + 1) m(i), range(0, 3) t(k)
WHERE k < m.i % 4;
