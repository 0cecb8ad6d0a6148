#!/usr/bin/env bash
# The flows of README.md and docs/flows.md, one user after another, against a freshly started
# demo (`marketplace serve --demo` in another terminal; run this once per fresh demo, since it
# registers a new patent):
#
#   bash examples/walkthrough.sh
#
# Every command of the docs is here as printed. Each one must answer 2xx, and each field the
# next step uses must be there (lines starting with `check` also compare values): any other
# answer stops the script with a non-zero exit. CI runs it (tests/test_walkthrough.py).
set -euo pipefail

# The docs' commands use curl as it is; here each answer's status is checked as well.
WORK_DIR=$(mktemp -d)
trap 'rm -rf "$WORK_DIR"' EXIT
cd "$WORK_DIR"  # files the examples write (portfolio.csv)
ANSWER_FILE=$WORK_DIR/answer
curl() {
  local status
  status=$(command curl -sS -o "$ANSWER_FILE" -w '%{http_code}' "$@") || return 1
  cat "$ANSWER_FILE" && [ -z "$(tail -c 1 "$ANSWER_FILE")" ] || echo
  case $status in
    2??) ;;
    *) echo "walkthrough: HTTP $status from curl $*" >&2; cat "$ANSWER_FILE" >&2; return 1 ;;
  esac
}
check() {  # check "$ANSWER" EXPECTED FIELD...: the field of the answer has that value
  local answer=$1 expected=$2 got
  shift 2
  got=$(printf '%s' "$answer" | json "$@")
  if [ "$got" != "$expected" ]; then
    echo "walkthrough: $* is '$got', expected '$expected'" >&2
    exit 1
  fi
}
step() { echo "== $*" >&2; }

# --- setup
API=${API:-http://127.0.0.1:8000/api/v1}
# json FIELD...: a field of the JSON answer on stdin, e.g. `json items 0 id`; in a list,
# `status=active` picks the first item with that value (a dotted path: `terms.offer.royalty_type=running`).
json() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for step in sys.argv[1:]:
    if isinstance(value, list) and "=" in step:
        path, wanted = step.split("=", 1)
        def field(item):
            for key in path.split("."):
                item = item[key]
            return str(item)
        value = next(item for item in value if field(item) == wanted)
    else:
        value = value[int(step)] if isinstance(value, list) else value[step]
print(value if isinstance(value, str) else json.dumps(value))' "$@"
}
token() {  # a user's access token (every demo account has this password)
  curl -s $API/auth/token -d grant_type=password -d username="$1" -d password=demo-password-2026 | json access_token
}
TODAY=$(python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date())')  # today in China: every date is a day there
NEXT_YEAR=$(python3 -c 'import datetime, sys; d = datetime.date.fromisoformat(sys.argv[1]); print(d.replace(year=d.year + 1, day=min(d.day, 28)))' "$TODAY")
# --- end setup

step "SME: save a search, to be told when a matching declaration is published"
# --- alert
SME=$(token ceo@greencell.example.com)
SAVED=$(curl -s -X POST "$API/saved-searches" -H "Authorization: Bearer $SME" -H 'Content-Type: application/json' \
  -d '{"name": "Sodium-ion storage", "q": "sodium-ion cathode", "max_upfront_fee": "100000"}')
SAVED_ID=$(echo "$SAVED" | json id)
# --- end alert

step "University: register a patent, draft a declaration, publish it with the office's announcement"
# --- university
UNI=$(token tto@zit.example.edu.cn)
PATENT=$(curl -s $API/patents -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' -d @- <<EOF
{"application_number": "CN 2021 1012 3456 7", "title": "Sodium-ion cathode material for stationary storage",
 "abstract": "A layered oxide cathode for sodium-ion batteries with long cycle life.",
 "ipc_codes": ["H01M4/36"], "filing_date": "2021-03-02", "grant_date": "2023-01-10",
 "legal_status": "granted", "fee_paid_until": "$NEXT_YEAR", "department": "School of Materials Science"}
EOF
)
echo "$PATENT" | json application_number          # 202110123456.7 (canonical form)
PATENT_ID=$(echo "$PATENT" | json id)
LISTING=$(curl -s $API/listings -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' \
  -d "{\"patent_ids\": [$PATENT_ID], \"description\": \"Cathode for low-cost stationary storage\"}")
LISTING_ID=$(echo "$LISTING" | json id)
curl -s $API/listings/$LISTING_ID/offers -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' \
  -d '{"royalty_type": "hybrid", "upfront_fee": "50000", "royalty_rate": "3.5", "minimum_annual": "20000", "term_years": 5}'
curl -s $API/listings/$LISTING_ID/precheck -H "Authorization: Bearer $UNI"     # every reason it cannot be published yet
curl -s $API/listings/$LISTING_ID/declaration -H "Authorization: Bearer $UNI"  # the declaration's content, to file
# ... the office announces the declaration; the university enters its number and date:
PUBLISHED=$(curl -s $API/listings/$LISTING_ID/publish -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' -d @- <<EOF
{"announcement_number": "KF2026000123", "announcement_date": "$TODAY"}
EOF
)
echo "$PUBLISHED" | json status                     # published
# --- end university
check "$PUBLISHED" published status
check "$PUBLISHED" KF2026000123 announcement_number

step "SME: search, accept (the written notice), pay the entry fee; the university confirms it"
# --- sme
curl -s "$API/events" -H "Authorization: Bearer $SME"     # saved_search.matched: the new declaration
curl -s -G $API/listings --data-urlencode 'q=sodium-ion cathode' --data-urlencode 'ipc=H01M'
curl -s -G $API/listings --data-urlencode 'q=锂电池 热管理' --data-urlencode 'royalty_type=hybrid'
FOUND=$(curl -s -G $API/listings --data-urlencode 'q=sodium-ion cathode' | json items 0)
OFFER_ID=$(echo "$FOUND" | json offers 0 id)
KEY=$(python3 -c 'import uuid; print(uuid.uuid4())')
LICENSE=$(curl -s -X POST $API/offers/$OFFER_ID/accept -H "Authorization: Bearer $SME" -H "Idempotency-Key: $KEY")
echo "$LICENSE" | json status                       # pending_payment: an entry fee is due first
LICENSE_ID=$(echo "$LICENSE" | json id)
FEE=$(curl -s "$API/obligations?kind=upfront&license_id=$LICENSE_ID" -H "Authorization: Bearer $SME" | json items 0)
PAYMENT=$(curl -s -X POST $API/obligations/$(echo "$FEE" | json id)/payments -H "Authorization: Bearer $SME" \
  -H 'Content-Type: application/json' -d @- <<EOF
{"amount": "$(echo "$FEE" | json amount)", "paid_on": "$TODAY", "reference": "TT20261207001"}
EOF
)
curl -s -X POST $API/payments/$(echo "$PAYMENT" | json id)/confirm -H "Authorization: Bearer $UNI"
curl -s $API/licenses/$LICENSE_ID -H "Authorization: Bearer $SME" | json status   # active, from today
# --- end sme
check "$FOUND" "$LISTING_ID" id
check "$(curl -s "$API/events" -H "Authorization: Bearer $SME")" "listing:$LISTING_ID" items type=saved_search.matched subject
check "$LICENSE" pending_payment status
check "$LICENSE" non_exclusive exclusivity
check "$LICENSE" 50000.00 terms offer upfront_fee
check "$(curl -s $API/licenses/$LICENSE_ID -H "Authorization: Bearer $SME")" active status
check "$(curl -s -X POST $API/offers/$OFFER_ID/accept -H "Authorization: Bearer $SME" -H "Idempotency-Key: $KEY")" "$LICENSE_ID" id

step "SME: record the license with the office, get its certificate; anyone verifies it"
# --- recordation
curl -s "$API/licenses/recordation-due?days=90" -H "Authorization: Bearer $SME"
curl -s $API/licenses/$LICENSE_ID/recordation -H "Authorization: Bearer $SME" -H 'Content-Type: application/json' -d @- <<EOF
{"record_number": "X2026330000123", "record_date": "$TODAY"}
EOF
CERTIFICATE=$(curl -s $API/licenses/$LICENSE_ID/certificate -H "Authorization: Bearer $SME" | json jws)
curl -s ${API%/api/v1}/.well-known/jwks.json
curl -s $API/certificates/verify -H 'Content-Type: application/json' -d "{\"jws\": \"$CERTIFICATE\"}"
# --- end recordation
check "$(curl -s $API/certificates/verify -H 'Content-Type: application/json' -d "{\"jws\": \"$CERTIFICATE\"}")" true valid
check "$(curl -s $API/licenses/$LICENSE_ID -H "Authorization: Bearer $UNI")" X2026330000123 record_number

step "SME: the running-royalty license's first quarter has ended: report it and pay the royalty"
# --- royalties
RUNNING=$(curl -s "$API/licenses?role=licensee" -H "Authorization: Bearer $SME" | json items terms.offer.royalty_type=running)
RUNNING_ID=$(echo "$RUNNING" | json id)
START=$(echo "$RUNNING" | json effective_date)
QUARTER_END=$(python3 -c 'import calendar, datetime, sys  # three months from the start, less a day
d = datetime.date.fromisoformat(sys.argv[1]); y, m = divmod(d.month + 2, 12)
end = datetime.date(d.year + y, m + 1, min(d.day, calendar.monthrange(d.year + y, m + 1)[1]))
print(end - datetime.timedelta(days=1))' "$START")
REPORT=$(curl -s -X POST $API/licenses/$RUNNING_ID/royalty-reports -H "Authorization: Bearer $SME" \
  -H 'Content-Type: application/json' -d @- <<EOF
{"period_start": "$START", "period_end": "$QUARTER_END", "net_sales": "1234567.89", "currency": "CNY"}
EOF
)
echo "$REPORT" | json royalty_due                   # 49382.72: 4 % of the net sales
ROYALTY=$(curl -s $API/obligations/$(echo "$REPORT" | json obligation_id) -H "Authorization: Bearer $SME")
PAYMENT=$(curl -s -X POST $API/obligations/$(echo "$ROYALTY" | json id)/payments -H "Authorization: Bearer $SME" \
  -H 'Content-Type: application/json' -d @- <<EOF
{"amount": "$(echo "$ROYALTY" | json amount)", "paid_on": "$TODAY", "reference": "TT20261207002"}
EOF
)
curl -s -X POST $API/payments/$(echo "$PAYMENT" | json id)/confirm -H "Authorization: Bearer $UNI"
curl -s "$API/obligations?role=licensee" -H "Authorization: Bearer $SME"
curl -s "$API/obligations/calendar?from=$TODAY&to=$NEXT_YEAR" -H "Authorization: Bearer $SME"
# --- end royalties
check "$REPORT" 49382.72 royalty_due
check "$(curl -s $API/obligations/$(echo "$ROYALTY" | json id) -H "Authorization: Bearer $UNI")" paid status

step "Another SME: the demo's hybrid license still waits for its entry fee"
# --- pending
SME2=$(token cto@xpdrive.example.com)
PENDING=$(curl -s "$API/licenses?role=licensee" -H "Authorization: Bearer $SME2" | json items status=pending_payment)
echo "$PENDING" | json payment_due_date             # unpaid by then, it lapses (lapsed_unpaid)
# --- end pending

step "A foreign enterprise accepts a flagged technology; the operator reviews the export"
# --- export
FOREIGN=$(token licensing@munich-drives.example.de)
TITANIUM=$(curl -s -G $API/listings --data-urlencode 'ipc=B22F 10' | json items 0)
EXPORT_LICENSE=$(curl -s -X POST $API/offers/$(echo "$TITANIUM" | json offers royalty_type=lump_sum id)/accept \
  -H "Authorization: Bearer $FOREIGN" -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')")
echo "$EXPORT_LICENSE" | json status                # pending_export_review
ADMIN=$(token admin@marketplace.example)
curl -s $API/export-controls -H "Authorization: Bearer $ADMIN"                 # the flagged IPC prefixes
curl -s $API/export-reviews -H "Authorization: Bearer $ADMIN"                  # what waits, newest first
curl -s -X POST $API/licenses/$(echo "$EXPORT_LICENSE" | json id)/export-review/approve \
  -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"note": "End use checked"}'
# --- end export
check "$EXPORT_LICENSE" pending_export_review status
check "$(curl -s $API/export-reviews -H "Authorization: Bearer $ADMIN")" '[]' items
check "$(curl -s $API/licenses/$(echo "$EXPORT_LICENSE" | json id) -H "Authorization: Bearer $FOREIGN")" pending_payment status

step "Bank: machine access, encumbrance check, a pledge on the declared patent, consent"
# --- bank
BANK_ADMIN=$(token ipfinance@bank.example.com)
CLIENT=$(curl -s -X POST $API/api-clients -H "Authorization: Bearer $BANK_ADMIN" -H 'Content-Type: application/json' \
  -d '{"name": "loan-origination-2"}')
BANK=$(curl -s $API/auth/token -u "$(echo "$CLIENT" | json client_id):$(echo "$CLIENT" | json client_secret)" \
  -d grant_type=client_credentials | json access_token)
PLEDGED=$(curl -s "$API/pledges" -H "Authorization: Bearer $BANK" | json items 0 patents 0 application_number)
curl -s $API/encumbrances/check -H "Authorization: Bearer $BANK" -H 'Content-Type: application/json' \
  -d "{\"application_numbers\": [\"202110123456.7\", \"$PLEDGED\", \"202010200001.X\"]}"
UNIVERSITY_ID=$(curl -s $API/me -H "Authorization: Bearer $UNI" | json organization id)
PLEDGE=$(curl -s $API/pledges -H "Authorization: Bearer $BANK" -H 'Content-Type: application/json' -d @- <<EOF
{"pledgor_id": $UNIVERSITY_ID, "application_numbers": ["202110123456.7"], "secured_amount": "5000000",
 "currency": "CNY", "debt_start_date": "$TODAY", "debt_end_date": "$NEXT_YEAR",
 "valuation": {"amount": "8000000", "method": "income", "valuer": "Zhejiang Assets Appraisal Co.",
               "valuation_date": "$TODAY", "report_ref": "ZA-2026-118"}}
EOF
)
PLEDGE_ID=$(echo "$PLEDGE" | json id)
curl -s -X POST $API/pledges/$PLEDGE_ID/confirm -H "Authorization: Bearer $UNI"    # the pledgor joins
# ... the office registers the pledge; the bank enters the number and date from its notice:
curl -s $API/pledges/$PLEDGE_ID/registration -H "Authorization: Bearer $BANK" -H 'Content-Type: application/json' -d @- <<EOF
{"registration_number": "Y2026980012345", "registration_date": "$TODAY"}
EOF
# Without the bank's consent the declaration on that patent takes no new acceptance (409):
curl -s -X POST $API/pledges/$PLEDGE_ID/consents -H "Authorization: Bearer $BANK" -H 'Content-Type: application/json' \
  -d "{\"listing_id\": $LISTING_ID}"
curl -s $API/pledges/exposure -H "Authorization: Bearer $BANK"
curl -s "$API/pledges/$PLEDGE_ID/license-income?from=$TODAY&to=$NEXT_YEAR" -H "Authorization: Bearer $BANK"
curl -s "$API/events?limit=100" -H "Authorization: Bearer $BANK"
# --- end bank
check "$(curl -s $API/pledges/$PLEDGE_ID -H "Authorization: Bearer $BANK")" registered status
ENCUMBRANCES=$(curl -s $API/encumbrances/check -H "Authorization: Bearer $BANK" -H 'Content-Type: application/json' \
  -d "{\"application_numbers\": [\"202110123456.7\", \"$PLEDGED\", \"202010200001.X\"]}")
check "$ENCUMBRANCES" Y2026980012345 results 0 active_pledge registration_number
check "$ENCUMBRANCES" '["patent_already_pledged"]' results 1 reasons
check "$ENCUMBRANCES" false results 2 known

step "Webhooks: an organization admin subscribes an endpoint and reads the delivery log"
# --- webhooks
WEBHOOK=$(curl -s -X POST $API/webhooks -H "Authorization: Bearer $BANK_ADMIN" -H 'Content-Type: application/json' \
  -d '{"url": "http://127.0.0.1:9000/hooks/marketplace", "event_types": ["pledge.registered"]}')
curl -s $API/webhooks/$(echo "$WEBHOOK" | json id)/deliveries -H "Authorization: Bearer $BANK_ADMIN"
# --- end webhooks

step "Operator: verify a new organization, mediate a dispute, read statistics and the audit trail"
# --- operator
curl -s $API/signup -H 'Content-Type: application/json' -d '{
  "organization": {"name": "Jiangnan University", "kind": "university", "country": "CN",
                   "region": "Jiangsu", "credit_code": "91350100M000100Y43"},
  "user": {"email": "tto@jiangnan.example.edu.cn", "password": "a long passphrase here",
           "full_name": "Wang Fang"}}'
NEW_ORG=$(curl -s "$API/organizations?verification=pending" -H "Authorization: Bearer $ADMIN" | json items 0 id)
curl -s -X POST $API/organizations/$NEW_ORG/verify -H "Authorization: Bearer $ADMIN"
DISPUTE=$(curl -s $API/licenses/$LICENSE_ID/disputes -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' \
  -d '{"reason": "scope_of_use", "statement": "The licensee sells the cathode outside mainland China."}')
DISPUTE_ID=$(echo "$DISPUTE" | json id)
curl -s $API/disputes/$DISPUTE_ID/statements -H "Authorization: Bearer $SME" -H 'Content-Type: application/json' \
  -d '{"text": "Our sales are in mainland China only; the invoices are attached."}'
curl -s -X POST $API/disputes/$DISPUTE_ID/mediation -H "Authorization: Bearer $ADMIN"
curl -s $API/disputes/$DISPUTE_ID/resolve -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"outcome": "settled", "text": "Sales are within the territory; nothing is owed."}'
curl -s "$API/stats?group_by=department" -H "Authorization: Bearer $UNI"
curl -s "$API/stats?group_by=year" -H "Authorization: Bearer $ADMIN"
curl -s "$API/audit-events?object_type=license&object_id=$LICENSE_ID" -H "Authorization: Bearer $UNI"
curl -s $API/audit-events/head -H "Authorization: Bearer $UNI"
# --- end operator
check "$(curl -s $API/disputes/$DISPUTE_ID -H "Authorization: Bearer $SME")" resolved status

step "SME: needs, ranked matches with reasons, saved searches; the university sees the demand"
# --- search
curl -s -G $API/listings --data-urlencode 'q=锂离子电池 thermal' --data-urlencode 'ipc=H01M' --data-urlencode 'max_upfront_fee=100000'
curl -s -G $API/listings --data-urlencode 'q=batery'            # "corrected_query": "battery"
curl -s -X PUT $API/profile -H "Authorization: Bearer $SME" -H 'Content-Type: application/json' \
  -d '{"industry": "electric vehicle batteries", "ipc_interests": ["H01M 10"], "region": "Zhejiang"}'
NEED=$(curl -s -X POST "$API/needs" -H "Authorization: Bearer $SME" -H 'Content-Type: application/json' \
  -d '{"title": "锂电池热管理", "description": "cooling for e-bike packs", "ipc_codes": ["H01M 10"],
       "budget_max": "300000", "expected_annual_sales": "2000000"}')
NEED_ID=$(echo "$NEED" | json id)
curl -s "$API/needs/$NEED_ID/matches?limit=5" -H "Authorization: Bearer $SME"
curl -s -X POST "$API/saved-searches" -H "Authorization: Bearer $SME" -H 'Content-Type: application/json' \
  -d "{\"name\": \"Our cooling need\", \"need_id\": $NEED_ID}"
curl -s "$API/saved-searches/$SAVED_ID/results" -H "Authorization: Bearer $SME"      # run it now
curl -s -X PATCH "$API/saved-searches/$SAVED_ID" -H "Authorization: Bearer $SME" \
  -H 'Content-Type: application/json' -d '{"active": false}'                      # pause its alerts
curl -s "$API/listings/$LISTING_ID/demand" -H "Authorization: Bearer $UNI"
# --- end search
check "$(curl -s "$API/needs/$NEED_ID/matches?limit=5" -H "Authorization: Bearer $SME")" "Battery thermal management method based on phase-change materials" items 0 listing title
check "$(curl -s -G $API/listings --data-urlencode 'q=batery')" battery corrected_query

step "University: import a portfolio, then declare many patents at once"
# --- bulk
cat > portfolio.csv <<EOF
application_number,title,filing_date,grant_date,legal_status,fee_paid_until,ipc_codes,inventors
202110123457.1,Sodium-ion anode of hard carbon,2021-03-02,2023-01-10,granted,$NEXT_YEAR,H01M4/587,Li Wei;Wang Fang
202210123459.5,Electrolyte for sodium-ion cells,2022-04-18,2024-02-06,granted,$NEXT_YEAR,H01M 10/054,Wang Fang
EOF
JOB_ID=$(curl -s $API/imports -H "Authorization: Bearer $UNI" -F file=@portfolio.csv | json id)
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [ "$(curl -s $API/imports/$JOB_ID -H "Authorization: Bearer $UNI" | json status)" = succeeded ] && break
  sleep 1
done
curl -s $API/imports/$JOB_ID -H "Authorization: Bearer $UNI"
ANODE=$(curl -s -G $API/patents --data-urlencode 'q=202110123457.1' -H "Authorization: Bearer $UNI" | json items 0 id)
ELECTROLYTE=$(curl -s -G $API/patents --data-urlencode 'q=202210123459.5' -H "Authorization: Bearer $UNI" | json items 0 id)
curl -s $API/listings/bulk -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' -d @- <<EOF
{"patent_ids": [$ANODE, $ELECTROLYTE],
 "offer": {"royalty_type": "lump_sum", "upfront_fee": "80000", "term_years": 3}, "publish": true,
 "announcements": [
   {"patent_id": $ANODE, "announcement_number": "KF2026000201", "announcement_date": "$TODAY"},
   {"patent_id": $ELECTROLYTE, "announcement_number": "KF2026000202", "announcement_date": "$TODAY"}]}
EOF
# --- end bulk
check "$(curl -s $API/imports/$JOB_ID -H "Authorization: Bearer $UNI")" 2 created_count
check "$(curl -s -G $API/listings --data-urlencode 'q=hard carbon anode')" KF2026000201 items 0 announcement_number

step "University: withdraw a declaration; licenses granted under it stand"
# --- withdrawal
curl -s $API/listings/$LISTING_ID/withdraw -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' \
  -d '{"reason": "The patent is to be assigned to a spin-off company."}'
# ... the office announces the withdrawal; until then the declaration stands:
curl -s $API/listings/$LISTING_ID/withdrawal-announcement -H "Authorization: Bearer $UNI" -H 'Content-Type: application/json' -d @- <<EOF
{"announcement_number": "KF2026000456", "announcement_date": "$TODAY"}
EOF
curl -s $API/licenses/$LICENSE_ID -H "Authorization: Bearer $UNI" | json status   # still active
# --- end withdrawal
check "$(curl -s $API/listings/$LISTING_ID)" withdrawn status
check "$(curl -s $API/licenses/$LICENSE_ID -H "Authorization: Bearer $UNI")" active status

echo "walkthrough: every step answered as documented" >&2
