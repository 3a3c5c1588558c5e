"""Every word the shopper screens show, in English and Chinese.

Keys are stable identifiers (nudge keys come from the core's events); ``text(key, lang)``
falls back to English, then to the key itself, so a missing translation is visible
rather than a crash.
"""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    # --- attract / welcome / bags ---
    "attract_title": {"en": "Self-checkout", "zh": "自助结账"},
    "attract_tap": {"en": "Touch the screen or scan an item to start",
                    "zh": "触摸屏幕或扫描商品开始"},
    "welcome_title": {"en": "Welcome", "zh": "欢迎"},
    "welcome_start": {"en": "Start", "zh": "开始"},
    "welcome_hint": {"en": "Tap Start, or simply scan your first item",
                     "zh": "点击“开始”，或直接扫描第一件商品"},
    "bags_question": {"en": "Did you bring your own bags?", "zh": "您自带购物袋了吗？"},
    "bags_yes": {"en": "Yes, I'll put them down", "zh": "是，我放上购物袋"},
    "bags_no": {"en": "No", "zh": "没有"},
    "bags_hint": {"en": "Place your empty bags in the bagging area, then scan your first item",
                  "zh": "请把空购物袋放在装袋区，然后扫描第一件商品"},
    # --- training mode (docs/training.md): the ribbon above every screen ---
    "training_banner": {"en": "TRAINING — practice only, nothing is sold or paid",
                        "zh": "培训模式 — 仅供练习，不产生真实销售和付款"},
    # --- scanning ---
    "scan_prompt": {"en": "Scan an item", "zh": "请扫描商品"},
    "cart_empty": {"en": "Your items appear here", "zh": "已扫描的商品将显示在这里"},
    "total": {"en": "Total", "zh": "合计"},
    "savings": {"en": "You saved", "zh": "已优惠"},
    "items": {"en": "Items", "zh": "件数"},
    "pay": {"en": "Pay", "zh": "付款"},
    "produce_button": {"en": "Fruit & veg / no barcode", "zh": "果蔬 / 无条码商品"},
    "help_button": {"en": "Call attendant", "zh": "呼叫店员"},
    "skip_bagging": {"en": "Keep in cart", "zh": "留在购物车"},
    "bags_full": {"en": "Bags full", "zh": "袋子已满"},
    "remove_item": {"en": "Remove", "zh": "删除"},
    "attendant_says": {"en": "Attendant:", "zh": "店员："},
    "age_pending": {"en": "An attendant will check your ID. You can keep scanning.",
                    "zh": "店员将核验您的证件，您可以继续扫描。"},
    "suggest_title": {"en": "Is this your item?", "zh": "这是您的商品吗？"},
    "suggest_yes": {"en": "Yes, add it", "zh": "是，添加"},
    "suggest_no": {"en": "No", "zh": "不是"},
    # --- produce ---
    "produce_title": {"en": "Fruit & vegetables", "zh": "水果蔬菜"},
    "produce_place": {"en": "Place the item on the scale", "zh": "请将商品放在秤上"},
    "produce_suggested": {"en": "We think it is", "zh": "我们认为是"},
    "produce_search": {"en": "Search (name or pinyin initials)", "zh": "搜索（名称或拼音首字母）"},
    "produce_plu": {"en": "Enter the PLU code", "zh": "输入PLU码"},
    "produce_back": {"en": "Back", "zh": "返回"},
    "produce_weight": {"en": "Weight", "zh": "重量"},
    # --- help / intervention ---
    "help_title": {"en": "Help is on the way", "zh": "店员马上就到"},
    "help_body": {"en": "An attendant has been called to your lane.",
                  "zh": "已通知店员前来协助。"},
    # --- shopper guide (help screen pages; {key} is another string, e.g. a button label) ---
    "help_guide_button": {"en": "Help", "zh": "帮助"},
    "help_guide_title": {"en": "How to use self-checkout", "zh": "自助结账使用指南"},
    "help_page_scan": {"en": "Scanning", "zh": "扫描商品"},
    "help_page_produce": {"en": "Fruit & veg", "zh": "果蔬称重"},
    "help_page_bags": {"en": "Own bags", "zh": "自带购物袋"},
    "help_page_pay": {"en": "Paying", "zh": "付款"},
    "help_scan_1": {"en": "Hold the barcode to the red scanner window until you hear a beep.",
                    "zh": "将条码对准红色扫描窗口，听到“嘀”声即可。"},
    "help_scan_2": {"en": "Check the name and price on the screen.",
                    "zh": "在屏幕上核对商品名称和价格。"},
    "help_scan_3": {"en": "Put the item in your bag in the bagging area.",
                    "zh": "将商品放入装袋区的购物袋中。"},
    "help_produce_1": {"en": "Tap “{produce_button}”.", "zh": "点击“{produce_button}”。"},
    "help_produce_2": {"en": "Put the fruit or vegetables on the scale.",
                       "zh": "将水果或蔬菜放在秤上。"},
    "help_produce_3": {"en": "Tap your item, or search by name or PLU code. The price comes "
                       "from the weight.",
                       "zh": "点击您的商品，或按名称、PLU码搜索。\n价格按重量计算。"},
    "help_bags_1": {"en": "Asked “{bags_question}” — tap “{bags_yes}”.",
                    "zh": "屏幕询问“{bags_question}”时，\n点击“{bags_yes}”。"},
    "help_bags_2": {"en": "Put your empty bags in the bagging area before you scan.",
                    "zh": "扫描前，把空购物袋放在装袋区。"},
    "help_bags_3": {"en": "Keep your items there until you have paid. Too big to bag? Tap "
                    "“{skip_bagging}”.",
                    "zh": "付款前请将商品留在装袋区。\n商品太大？点击“{skip_bagging}”。"},
    "help_pay_1": {"en": "When everything is scanned, tap “{pay}”.",
                   "zh": "全部商品扫描完后，点击“{pay}”。"},
    "help_pay_2": {"en": "Choose {card}, {qr} or {cash}.", "zh": "选择{card}、{qr}或{cash}。"},
    "help_pay_3": {"en": "Follow the payment terminal, then take your receipt and your bags.",
                   "zh": "按支付终端的提示操作，然后取走小票和购物袋。"},
    "rating_comment": {"en": "Anything to tell us? (optional)",
                       "zh": "还有什么想告诉我们？（可选）"},
    "rating_hint": {"en": "Tap the stars to send", "zh": "点击星级即可提交"},
    "intervention_title": {"en": "Please wait — help is on the way",
                           "zh": "请稍候，店员马上就到"},
    "intervention_next": {"en": "Leave your items where they are. An attendant will be with you "
                          "shortly.", "zh": "请保持商品原位，店员将很快为您服务。"},
    "back": {"en": "Back", "zh": "返回"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    # --- payment / receipt / rating ---
    "payment_title": {"en": "Pay", "zh": "付款"},
    "payment_follow": {"en": "Follow the instructions on the payment terminal",
                       "zh": "请按照支付终端上的提示操作"},
    "payment_declined": {"en": "Payment declined", "zh": "支付被拒绝"},
    "payment_retry": {"en": "Try again", "zh": "重试"},
    "payment_approved": {"en": "Payment approved", "zh": "支付成功"},
    "card": {"en": "Card", "zh": "银行卡"},
    "qr": {"en": "Mobile / QR", "zh": "扫码支付"},
    "cash": {"en": "Cash", "zh": "现金"},
    "receipt_title": {"en": "Your receipt", "zh": "您的小票"},
    "receipt_print": {"en": "Print receipt", "zh": "打印小票"},
    "receipt_qr": {"en": "Scan for your e-receipt", "zh": "扫码获取电子小票"},
    "receipt_done": {"en": "Done", "zh": "完成"},
    "rating_title": {"en": "How was your checkout?", "zh": "您对本次结账满意吗？"},
    "thanks_title": {"en": "Thank you! Don't forget your bags.",
                     "zh": "谢谢！别忘了带走您的购物袋。"},
    "out_of_service": {"en": "This lane is closed", "zh": "本通道暂停服务"},
    "out_of_service_hint": {"en": "Please use another lane", "zh": "请使用其他通道"},
    "lane_closed": {"en": "This lane is closing — please use another lane",
                    "zh": "本通道即将关闭，请使用其他通道"},
    "attendant_message": {"en": "Message from the attendant", "zh": "店员留言"},
    # --- nudges (core keys) ---
    "rescan_item": {"en": "That barcode did not read — please scan it again",
                    "zh": "条码未能识别，请重新扫描"},
    "item_not_found": {"en": "Item not found — please call an attendant if it happens again",
                       "zh": "未找到该商品，如再次出现请呼叫店员"},
    "wait_for_attendant": {"en": "Please wait for the attendant", "zh": "请等待店员"},
    "finish_payment": {"en": "Please finish paying first", "zh": "请先完成付款"},
    "age_check_needed": {"en": "An attendant must check your ID before you pay",
                         "zh": "付款前需店员核验证件"},
    "scale_unavailable": {"en": "The scale is not available — please call an attendant",
                          "zh": "秤暂不可用，请呼叫店员"},
    "clear_scale": {"en": "Please take the last item off the scale", "zh": "请先取走秤上的商品"},
    "call_attendant": {"en": "Please call an attendant", "zh": "请呼叫店员"},
    "scan_item_before_bagging": {"en": "Please scan each item before bagging it",
                                 "zh": "请先扫描商品再装袋"},
    "unexpected_item_in_bagging_area": {"en": "Please scan the item you put in the bagging area",
                                        "zh": "请扫描您放入装袋区的商品"},
    "check_item_in_bagging_area": {"en": "The item in the bagging area does not match — please "
                                   "check it", "zh": "装袋区的商品与扫描的不符，请检查"},
    "put_item_back_in_bagging_area": {"en": "Please put the item back in the bagging area",
                                      "zh": "请将商品放回装袋区"},
    "check_scanned_item": {"en": "Please check the item you just scanned",
                           "zh": "请检查刚扫描的商品"},
    "scan_each_item_separately": {"en": "Please scan each item separately",
                                  "zh": "请逐件扫描商品"},
    "only_empty_bags_please": {"en": "Only empty bags in the bagging area, please",
                               "zh": "装袋区只能放空袋子"},
    "check_produce_selection": {"en": "Please check your produce selection",
                                "zh": "请核对您选择的果蔬"},
    "place_item_in_bagging_area": {"en": "Please place the item in the bagging area",
                                   "zh": "请将商品放入装袋区"},
    "keep_bagging_area_clear": {"en": "Please keep your hands and bags off the bagging area",
                                "zh": "请勿将手或包放在装袋区"},
}  # fmt: skip

# What the intervention screen says it is about (reason codes and alert kinds).
REASONS: dict[str, dict[str, str]] = {
    "non_scan": {"en": "An item may not have been scanned", "zh": "可能有商品未扫描"},
    "unexpected_item": {"en": "Unexpected item in the bagging area", "zh": "装袋区有未扫描的商品"},
    "weight_mismatch": {"en": "The bagged item does not match", "zh": "装袋商品与扫描不符"},
    "item_removed": {"en": "An item was removed from the bagging area", "zh": "有商品从装袋区移走"},
    "ticket_switch": {"en": "The item does not match its barcode", "zh": "商品与条码不符"},
    "multiple_items": {"en": "Several items were scanned as one", "zh": "多件商品只扫描了一次"},
    "bag_abuse": {"en": "Please check the bag in the bagging area", "zh": "请检查装袋区的袋子"},
    "produce_mismatch": {"en": "Please check the produce selection", "zh": "请核对果蔬选择"},
    "void_request": {"en": "Removing an item needs an attendant", "zh": "删除商品需要店员确认"},
    "cancel_request": {"en": "Cancelling needs an attendant", "zh": "取消交易需要店员确认"},
    "unexpected_payment": {"en": "A payment needs checking", "zh": "支付需要核对"},
}  # fmt: skip

LANGUAGES = ("en", "zh")


def text(key: str, lang: str) -> str:
    entry = STRINGS.get(key) or REASONS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry.get("en") or key


def reason_text(reason: str, lang: str) -> str:
    entry = REASONS.get(reason)
    if entry is None:
        return text("intervention_title", lang)
    return entry.get(lang) or entry["en"]


def money(minor: int, exponent: int = 2, symbol: str = "¥") -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    if exponent == 0:
        return f"{sign}{symbol}{minor}"
    whole, frac = divmod(minor, 10**exponent)
    return f"{sign}{symbol}{whole}.{frac:0{exponent}d}"


def grams(weight_g: int) -> str:
    return f"{weight_g / 1000:.3f} kg" if weight_g >= 1000 else f"{weight_g} g"
