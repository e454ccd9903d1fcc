// Unit tests of the pure modules (engine, source, phone): `node --test assets/widget/test/`.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { matches, pickScenario, variant } from '../engine.js'
import { format, national } from '../phone.js'
import { detectLanding } from '../source.js'

test('rule engine: conditions, scenarios, variants', () => {
  const sig = { exit: false, active_s: 40, scroll_pct: 60, keyword: 'ремонт квартир', source: 'search', device: 'desktop', pages: 3, utm_source: 'Yandex' }
  assert.equal(matches(sig, [[['active_s', 'gte', 30], ['scroll_pct', 'gte', 50]]]), true)
  assert.equal(matches(sig, [[['active_s', 'gte', 30], ['nope', 'gte', 1]]]), false)
  assert.equal(matches(sig, [[['active_s', 'between', 30]]]), false)
  assert.equal(matches(sig, [[['constructor', 'eq', 1]], [['active_s', 'toString', 1]]]), false)
  assert.equal(matches(sig, [[['keyword', 'contains_any', ['кухн']]], [['keyword', 'contains_any', ['ремонт']]]]), true)
  assert.equal(matches(sig, [[['utm_source', 'eq', 'yandex']]]), true)
  assert.equal(matches(sig, [[['source', 'in', ['ad', 'search']]]]), true)
  assert.equal(matches(sig, [[['keyword', 'gte', 1]]]), false)
  assert.equal(matches(sig, [[['exit', 'eq', true]]]), false)
  assert.equal(matches(sig, []), false)
  assert.equal(matches(sig, 'x'), false)
  const cfg = { texts: { title: 'T', body: 'B', button: 'Go' }, design: { accent_color: '#111111', position: 'center' },
    scenarios: [{ id: 'hot', devices: ['touch'], when: [[]] }, { id: 'long', devices: ['desktop'], when: [[['pages', 'gte', 3]]], texts: { title: 'Long', body: null } }],
    rules: [{ id: 'rule-1', keywords: ['кухн'], utm: {}, scenario: null, texts: { title: 'K' } },
            { id: 'rule-2', keywords: [], utm: { utm_source: 'yandex' }, scenario: 'long', texts: { button: 'Y' }, design: { accent_color: '#222222' } }] }
  const sc = pickScenario(cfg, sig)
  assert.equal(sc.id, 'long')
  let v = variant(cfg, sig.keyword, { utm_source: 'YANDEX' }, sc)
  assert.deepEqual(v, { id: 'rule-2', texts: { title: 'Long', body: 'B', button: 'Y' }, design: { accent_color: '#222222', position: 'center' } })
  v = variant(cfg, sig.keyword, {}, sc); assert.equal(v.id, 'scenario')
  v = variant(cfg, null, {}, { id: 'manual' }); assert.equal(v.id, 'default')
  v = variant(cfg, 'кухня', {}, undefined); assert.equal(v.id, 'rule-1'); assert.equal(v.texts.title, 'K')
})

test('source, keyword and click id of the landing page', () => {
  const L = (href, ref) => detectLanding(href, ref)
  assert.equal(L('https://a.ru/', '').source, 'direct')
  assert.equal(L('https://a.ru/', 'https://www.a.ru/x').source, 'internal')
  assert.equal(L('https://a.ru/', 'https://yandex.ru/search/?text=Ремонт').source, 'search')
  assert.equal(L('https://a.ru/', 'https://yandex.ru/search/?text=Ремонт').keyword, 'ремонт')
  assert.equal(L('https://a.ru/', 'https://www.google.co.uk/').source, 'search')
  assert.equal(L('https://a.ru/', 'android-app://com.google.android.googlequicksearchbox/').source, 'search')
  assert.equal(L('https://a.ru/', 'https://dzen.ru/a/x').source, 'social')
  assert.equal(L('https://a.ru/', 'https://zen.yandex.ru/').source, 'social')
  assert.equal(L('https://a.ru/', 'https://vk.com/').source, 'social')
  assert.equal(L('https://a.ru/', 'https://web.telegram.org/').source, 'messenger')
  assert.equal(L('https://a.ru/', 'https://t.me/chan').source, 'messenger')
  assert.equal(L('https://a.ru/', 'https://notgoogle.com/').source, 'referral')
  assert.equal(L('https://a.ru/', 'https://go.mail.ru/search?q=Окна').keyword, 'окна')
  assert.equal(L('https://a.ru/', 'https://forum.ru/?q=x').keyword, null)
  assert.equal(L('https://a.ru/?utm_medium=CPC&utm_term=Окна+ПВХ', 'https://yandex.ru/').source, 'ad')
  assert.equal(L('https://a.ru/?utm_medium=CPC&utm_term=Окна+ПВХ', '').keyword, 'окна пвх')
  assert.equal(L('https://a.ru/?gclid=abc', '').click_id, 'gclid:abc')
  assert.equal(L('https://a.ru/?utm_medium=messenger', '').source, 'messenger')
})

test('phone typing with the country template', () => {
  const RU = { dial: '7', template: '### ###-##-##' }
  assert.equal(format(national('+7 (912) 345-67-89', RU), RU.template), '912 345-67-89')
  assert.equal(format(national('89123456789', RU), RU.template), '912 345-67-89')
  assert.equal(format(national('912', RU), RU.template), '912')
  assert.equal(format(national('9123', RU), RU.template), '912 3')
})
