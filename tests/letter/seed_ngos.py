"""The organisations of the seed joint letter (../shared/seed/), written with their legal forms.

The published letter lists 29 lines under "32 organizations": its two coordinators appear
again among the signatories, so 27 unique signatories remain.
"""

from __future__ import annotations

# (key, English name, Japanese name, reading, is_coordinator)
SEED_ORGANISATIONS: list[tuple[str, str, str, str, bool]] = [
    ("hrw", "Human Rights Watch", "ヒューマン・ライツ・ウォッチ", "ひゅーまんらいつうぉっち", True),
    (
        "hrn",
        "Human Rights Now",
        "認定NPO法人ヒューマンライツ・ナウ",
        "にんていえぬぴーおーほうじんひゅーまんらいつなう",
        True,
    ),
    (
        "wam",
        "Women’s Active Museum on War and Peace (WAM)",
        "アクティブ・ミュージアム「女たちの戦争と平和資料館」(wam)",
        "あくてぃぶみゅーじあむおんなたちのせんそうとへいわしりょうかん",
        False,
    ),
    (
        "iraq",
        "Iraq War Inquiry Network",
        "イラク戦争の検証を求めるネットワーク",
        "いらくせんそうのけんしょうをもとめるねっとわーく",
        False,
    ),
    ("ywca-osaka", "YWCA of Osaka", "大阪YWCA", "おおさかわいだぶりゅーしーえー", False),
    (
        "gaza-kansai",
        "Kansai Gaza Emergency Action",
        "関西ガザ緊急アクション",
        "かんさいがざきんきゅうあくしょん",
        False,
    ),
    (
        "kyoto-aala",
        "Kyoto Asia Africa Latin America Solidarity Committee",
        "京都AALA",
        "きょうとあある",
        False,
    ),
    ("ywca-kyoto", "Kyoto YWCA", "京都YWCA", "きょうとわいだぶりゅーしーえー", False),
    (
        "jocs",
        "Japan Overseas Christian Medical Cooperative Service",
        "公益社団法人日本キリスト教海外医療協力会",
        "こうえきしゃだんほうじんにほんきりすときょうかいがいいりょうきょうりょくかい",
        False,
    ),
    ("ywca-shizuoka", "Shizuoka YWCA", "静岡YWCA", "しずおかわいだぶりゅーしーえー", False),
    (
        "jcbl",
        "Japan Campaign to Ban Landmines",
        "地雷廃絶日本キャンペーン",
        "じらいはいぜつにほんきゃんぺーん",
        False,
    ),
    (
        "ayus",
        "ayus: Network of Buddhists Volunteers on International Cooperation",
        "特定非営利活動法人アーユス仏教国際協力ネットワーク",
        "とくていひえいりかつどうほうじんあーゆすぶっきょうこくさいきょうりょくねっとわーく",
        False,
    ),
    (
        "ajf",
        "Africa Japan Forum",
        "特定非営利活動法人アフリカ日本協議会",
        "とくていひえいりかつどうほうじんあふりかにほんきょうぎかい",
        False,
    ),
    (
        "earth-tree",
        "Earth Tree",
        "特定非営利活動法人アース・ツリー",
        "とくていひえいりかつどうほうじんあーすつりー",
        False,
    ),
    (
        "jvc",
        "Japan International Volunteer Center",
        "特定非営利活動法人日本国際ボランティアセンター",
        "とくていひえいりかつどうほうじんにほんこくさいぼらんてぃあせんたー",
        False,
    ),
    (
        "apla",
        "Alternative People’s Linkage in Japan",
        "特定非営利活動法人APLA",
        "とくていひえいりかつどうほうじんあぷら",
        False,
    ),
    (
        "piece-of-syria",
        "Piece of Syria",
        "特定非営利活動法人Piece of Syria",
        "とくていひえいりかつどうほうじんぴーすおぶしりあ",
        False,
    ),
    ("ywca-nagoya", "Nagoya YWCA", "名古屋YWCA", "なごやわいだぶりゅーしーえー", False),
    (
        "ywca-japan",
        "YWCA of Japan",
        "公益財団法人日本YWCA",
        "こうえきざいだんほうじんにっぽんわいだぶりゅーしーえー",
        False,
    ),
    (
        "itabashi",
        "Itabashi Peace Museum Campaign",
        "板橋平和ミュージアムキャンペーン",
        "いたばしへいわみゅーじあむきゃんぺーん",
        False,
    ),
    (
        "awe",
        "Asian Women for Equality",
        "平等を求めるアジア女性の会",
        "びょうどうをもとめるあじあじょせいのかい",
        False,
    ),
    (
        "najat",
        "Network Against Japan Arms Trade",
        "武器取引反対ネットワーク",
        "ぶきとりひきはんたいねっとわーく",
        False,
    ),
    (
        "wind",
        "Wind of Citizens toward Uniting for Peace",
        "平和への結集をめざす市民の風",
        "へいわへのけっしゅうをめざすしみんのかぜ",
        False,
    ),
    ("green-osaka", "Green Osaka", "みどり大阪", "みどりおおさか", False),
    (
        "du",
        "the Citizens’ Network Opposing the Use of DU Weapons",
        "劣化ウラン兵器禁止を求める市民ネットワーク",
        "れっかうらんへいききんしをもとめるしみんねっとわーく",
        False,
    ),
    ("bds", "BDS Tokyo", "BDS東京", "びーでぃーえすとうきょう", False),
    ("ywca-kumamoto", "Kumamoto YWCA", "熊本YWCA", "くまもとわいだぶりゅーしーえー", False),
    (
        "stop-mil",
        "Action For Stop Militarization",
        "軍事化を止めるアクション",
        "ぐんじかをとめるあくしょん",
        False,
    ),
    ("space", "Space Allies", "宇宙軍拡に反対する会", "うちゅうぐんかくにはんたいするかい", False),
]

# Written by hand from the readings above (legal forms ignored; voiced marks and ー only
# count after the plain kana, as in JIS X 4061 / any Japanese dictionary):
EXPECTED_JA_ORDER = [
    "特定非営利活動法人アース・ツリー",  # ああすつりい
    "特定非営利活動法人アーユス仏教国際協力ネットワーク",  # ああゆす: す < ゆ
    "アクティブ・ミュージアム「女たちの戦争と平和資料館」(wam)",  # あく
    "特定非営利活動法人APLA",  # あぷら: ぷ = ふ at first, then ら < り
    "特定非営利活動法人アフリカ日本協議会",  # あふり
    "板橋平和ミュージアムキャンペーン",  # いた
    "イラク戦争の検証を求めるネットワーク",  # いら
    "宇宙軍拡に反対する会",  # う
    "大阪YWCA",  # お
    "関西ガザ緊急アクション",  # か
    "京都AALA",  # きょうとあ
    "京都YWCA",  # きょうとわ
    "熊本YWCA",  # くま
    "軍事化を止めるアクション",  # ぐん = くん: ん after ま
    "静岡YWCA",  # しず
    "地雷廃絶日本キャンペーン",  # じら = しら: ず(す) < ら
    "名古屋YWCA",  # な
    "公益財団法人日本YWCA",  # にっ(つ)
    "公益社団法人日本キリスト教海外医療協力会",  # にほんき
    "特定非営利活動法人日本国際ボランティアセンター",  # にほんこ
    "特定非営利活動法人Piece of Syria",  # ぴいす
    "BDS東京",  # びいて: す < て
    "平等を求めるアジア女性の会",  # びよ: い < よ
    "武器取引反対ネットワーク",  # ふ
    "平和への結集をめざす市民の風",  # へ
    "みどり大阪",  # み
    "劣化ウラン兵器禁止を求める市民ネットワーク",  # れ
]

EXPECTED_EN_ORDER = [
    "Action For Stop Militarization",
    "Africa Japan Forum",
    "Alternative People’s Linkage in Japan",
    "Asian Women for Equality",
    "ayus: Network of Buddhists Volunteers on International Cooperation",
    "BDS Tokyo",
    "the Citizens’ Network Opposing the Use of DU Weapons",
    "Earth Tree",
    "Green Osaka",
    "Iraq War Inquiry Network",
    "Itabashi Peace Museum Campaign",
    "Japan Campaign to Ban Landmines",
    "Japan International Volunteer Center",
    "Japan Overseas Christian Medical Cooperative Service",
    "Kansai Gaza Emergency Action",
    "Kumamoto YWCA",
    "Kyoto Asia Africa Latin America Solidarity Committee",
    "Kyoto YWCA",
    "Nagoya YWCA",
    "Network Against Japan Arms Trade",
    "Piece of Syria",
    "Shizuoka YWCA",
    "Space Allies",
    "Wind of Citizens toward Uniting for Peace",
    "Women’s Active Museum on War and Peace (WAM)",
    "YWCA of Japan",
    "YWCA of Osaka",
]


# The seed campaign's own contacts file (config/campaigns/icc-2024.contacts.csv): 27
# organisations, no coordinators (those are in the campaign definition). Written by hand
# from the file's `reading` column:
EXPECTED_SEED_CSV_JA_ORDER = [
    "アースツリー",  # ああす
    "アーユス仏教国際協力ネットワーク",  # ああゆ: す < ゆ
    "アクティブ・ミュージアム「女たちの戦争と平和資料館」",  # あく
    "APLA",  # あぷら: ぷ = ふ first, then ら < り
    "アフリカ日本協議会",  # あふり
    "板橋に平和資料館をつくる会",  # いた
    "イラク戦争の検証を求めるネットワーク",  # いら
    "大阪YWCA",  # お
    "関西ガザ緊急アクション",  # か
    "京都アジア・アフリカ・ラテンアメリカ連帯委員会",  # きょうとあ
    "京都YWCA",  # きょうとわ
    "熊本YWCA",  # くま
    "軍事化ストップ・アクション",  # ぐん = くん: ん after ま
    "静岡YWCA",  # しず
    "地雷廃絶日本キャンペーン",  # じら = しら: す < ら
    "スペース・アライズ",  # す
    "名古屋YWCA",  # な
    "日本YWCA",  # にっ (っ = つ)
    "日本キリスト教海外医療協力会",  # にほんき
    "日本国際ボランティアセンター",  # にほんこ
    "ピース・オブ・シリア",  # ぴいす
    "BDS東京",  # びいて: す < て
    "平等を求めるアジア女性の会",  # びよ: い < よ
    "武器取引反対ネットワーク",  # ふ
    "平和への結集をめざす市民の風",  # へ
    "みどり大阪",  # み
    "劣化ウラン兵器禁止を求める市民ネットワーク",  # れ
]

EXPECTED_SEED_CSV_EN_ORDER = [
    "Action For Stop Militarization",
    "Africa Japan Forum",
    "Alternative People’s Linkage in Asia (APLA)",
    "Asian Women for Equality",
    "ayus: Network of Buddhist Volunteers on International Cooperation",
    "BDS Tokyo",
    "The Citizens’ Network Opposing the Use of DU Weapons",
    "Specified Non-Profit Organization Earth Tree",  # listed under E: the legal form is not sorted
    "Green Osaka",
    "Iraq War Inquiry Network",
    "Itabashi Peace Museum Campaign",
    "Japan Campaign to Ban Landmines (JCBL)",
    "Japan International Volunteer Center (JVC)",
    "Japan Overseas Christian Medical Cooperative Service (JOCS)",
    "Kansai Gaza Emergency Action",
    "Kumamoto YWCA",
    "Kyoto Asia Africa Latin America Solidarity Committee",
    "Kyoto YWCA",
    "Nagoya YWCA",
    "Network Against Japan Arms Trade (NAJAT)",
    "Piece of Syria",
    "Shizuoka YWCA",
    "Space Allies",
    "Wind of Citizens toward Uniting for Peace",
    "Women’s Active Museum on War and Peace (WAM)",
    "YWCA of Japan",
    "YWCA of Osaka",
]
