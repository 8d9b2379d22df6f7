// Strings of both pages in English and Chinese; the language follows the browser until
// the user picks one. Elements name their string with data-i18n (text) or
// data-i18n-label (aria-label and placeholder).
"use strict";
window.EDL_I18N = (function () {
  const strings = {
    en: {
      lang: "中文", signin: "Sign in", signout: "Sign out", api_key: "API key",
      signin_failed: "Sign-in refused: check the key and its role.",
      desk_title: "Photo review desk", console_title: "Operator console",
      waiting: "Waiting uploads (oldest first)", none_waiting: "No uploads are waiting.",
      age: "waiting", overdue: "overdue", due_in: "due in", photo: "Uploaded photo",
      licence: "Licence record", number: "Licence number", name: "Name", classes: "Classes",
      validity: "Validity", authority: "Authority", state: "State", channel: "Channel",
      findings: "Automatic pre-checks", outcome: "Outcome", check: "Check", measured: "Measured",
      bound: "Bound", verdict: "Verdict", no_findings: "No pre-check findings for this upload.",
      approve: "Approve", reject: "Reject", reason: "Reason for rejection", other: "Other reason (written)",
      keys_help: "Keys: A approve · R reject, then 1–8 for a reason and Enter · J/K next/previous",
      approved: "Approved", rejected: "Rejected", pass: "pass", borderline: "borderline", fail: "fail",
      review: "needs a person", choose_reason: "Choose a reason or write one.",
      r1: "Background is not plain white", r2: "Face not clearly visible or not facing the camera",
      r3: "Photo is blurred or out of focus", r4: "Lighting uneven, shadows on face or background",
      r5: "Head size or position does not meet the 32 × 22 mm template",
      r6: "Glasses glare, hat or head covering hides the face", r7: "Heavily retouched or filtered",
      r8: "Does not show the licence holder",
      c_unreadable: "readable file", c_too_many_pixels: "pixel count", c_too_small: "resolution",
      c_wrong_aspect: "aspect 32:22", c_not_a_photo: "is a photo", c_background_not_white: "white background",
      c_background_uneven: "even background", c_too_dark: "not too dark", c_too_bright: "not too bright",
      c_clipped: "detail kept", c_blurred: "sharpness", c_head_too_small: "head size",
      nodes: "Nodes", node: "Node", healthy: "healthy", queue: "Queue", drain: "Drain (target / measured)",
      started: "Started", state: "State", state_live: "live", state_silent: "silent for {s} s",
      state_left: "left", nodes_partial: "The database did not answer: only this node is listed.",
      notifications: "Notifications", receiver: "Receiver", of_client: "Client", written: "Written",
      pending: "Owed", dead: "Dead letters", oldest_owed: "Oldest owed",
      no_subscriptions: "No subscriptions: add one with edld webhooks add.",
      arrivals: "Arrivals, admitted and refused per second",
      depth: "Queue depth per lane", oldest: "Oldest waiting per lane (s)",
      drain_chart: "Drain: target vs achieved (per second)", waits: "Wait: quoted vs actual (s)",
      latency: "Live-status and audit-log commit latency (ms)", knobs: "Throttle settings",
      preview: "What if (simulate)", apply: "Apply changes", pause: "Pause draining", resume: "Resume draining",
      paused: "paused", running: "draining", whatif: "What if: observed arrivals replayed",
      whatif_none: "Not enough observed arrivals yet to replay.", changes: "Recent operator changes",
      when: "When", who: "Who", what: "What", target_now: "Drain target now",
      applied: "Applied.", current: "current", proposed: "proposed", peak: "peak queue", refused_total: "refused"
    },
    zh: {
      lang: "English", signin: "登录", signout: "退出", api_key: "API 密钥",
      signin_failed: "登录被拒绝：请检查密钥及其角色。",
      desk_title: "照片审核台", console_title: "运维控制台",
      waiting: "待审核上传（最早的在前）", none_waiting: "没有待审核的上传。",
      age: "已等待", overdue: "已超期", due_in: "剩余", photo: "上传的照片",
      licence: "驾驶证记录", number: "证号", name: "姓名", classes: "准驾车型",
      validity: "有效期", authority: "发证机关", state: "状态", channel: "渠道",
      findings: "自动预检", outcome: "结论", check: "检查项", measured: "测量值",
      bound: "阈值", verdict: "判定", no_findings: "此上传没有预检结果。",
      approve: "通过", reject: "驳回", reason: "驳回原因", other: "其他原因（填写）",
      keys_help: "快捷键：A 通过 · R 驳回，再按 1–8 选择原因并回车 · J/K 下一张/上一张",
      approved: "已通过", rejected: "已驳回", pass: "合格", borderline: "临界", fail: "不合格",
      review: "需人工判断", choose_reason: "请选择或填写原因。",
      r1: "背景不是纯白色", r2: "面部不清晰或未正对镜头", r3: "照片模糊或未对焦",
      r4: "光线不均匀，面部或背景有阴影", r5: "头部大小或位置不符合 32 × 22 毫米规格",
      r6: "眼镜反光、帽子或头饰遮挡面部", r7: "过度修图或使用滤镜", r8: "不是驾驶证持有人本人",
      c_unreadable: "文件可读", c_too_many_pixels: "像素数", c_too_small: "分辨率",
      c_wrong_aspect: "比例 32:22", c_not_a_photo: "是照片", c_background_not_white: "白色背景",
      c_background_uneven: "背景均匀", c_too_dark: "不过暗", c_too_bright: "不过亮",
      c_clipped: "细节保留", c_blurred: "清晰度", c_head_too_small: "头部大小",
      nodes: "节点", node: "节点", healthy: "正常", queue: "队列", drain: "签发速率（目标 / 实测）",
      started: "启动时间", state: "状态", state_live: "在线", state_silent: "已 {s} 秒无心跳",
      state_left: "已退出", nodes_partial: "数据库未响应：仅列出本节点。",
      notifications: "通知", receiver: "接收方", of_client: "客户端", written: "已写入",
      pending: "待送达", dead: "死信", oldest_owed: "最早待送达",
      no_subscriptions: "暂无订阅：可用 edld webhooks add 添加。",
      arrivals: "每秒到达、受理与拒绝",
      depth: "各通道队列长度", oldest: "各通道最早等待（秒）",
      drain_chart: "签发：目标与实际（每秒）", waits: "等待：预告与实际（秒）",
      latency: "实时状态与审计日志提交延迟（毫秒）", knobs: "限流设置",
      preview: "模拟（如果这样改）", apply: "应用更改", pause: "暂停签发", resume: "恢复签发",
      paused: "已暂停", running: "签发中", whatif: "模拟：重放观测到的到达",
      whatif_none: "观测到的到达还不够，无法重放。", changes: "最近的操作员更改",
      when: "时间", who: "操作人", what: "内容", target_now: "当前目标签发速率",
      applied: "已应用。", current: "当前", proposed: "拟议", peak: "队列峰值", refused_total: "拒绝"
    }
  };
  let lang = (localStorage.getItem("edl-lang") || navigator.language || "en").startsWith("zh") ? "zh" : "en";
  const t = (key) => (strings[lang][key] !== undefined ? strings[lang][key] : key);
  function apply() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-label]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    });
  }
  function toggle() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("edl-lang", lang);
    apply();
  }
  return { t, apply, toggle, lang: () => lang };
})();

// The API as a page calls it: JSON in and out, the session cookie sent by the browser,
// and the session's CSRF token on every change.
window.EDL_API = (function () {
  let csrf = null;
  async function call(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) data = await response.json();
    return { status: response.status, ok: response.ok, data };
  }
  return { call, setCsrf: (token) => { csrf = token; } };
})();
