// The demo lead app: a few saved leads, its own navigation, and leadbridge's components embedded the way the
// README tells a real app to (configure once with the API URL and a getToken function; give the export button the
// lead document). `make run` serves it at {gateway}/ui/ with the demo tenant's tokens in window.LEADBRIDGE_DEMO.
(() => {
  const demo = window.LEADBRIDGE_DEMO;
  const ui = window.LeadbridgeUI;
  if (!demo || !ui) return;

  const leads = [
    {
      id: "lead-dansk-trae", company_name: "Dansk Træ IVS", org_number: "16728806",
      website: "https://www.dansktrae.dk", email: "info@dansktrae.dk", phone: "+45 70 20 30 40",
      street: "Industrivej 66", postal_code: "1050", city: "København K", country: "DK", industry: "Træindustri",
      score: 82, reason_for_fit: "Growing timber wholesaler opening a second warehouse",
      contacts: [{ id: "c-1", first_name: "Mette", last_name: "Jensen", title: "Indkøbschef",
                   email: "mette.jensen@dansktrae.dk", phone: "+45 20 11 22 33" }],
    },
    {
      id: "lead-skandinavisk-data", company_name: "Skandinavisk Data", website: "https://skandinaviskdata.dk",
      city: "Horsens", country: "DK", industry: "Software", score: 64,
      contacts: [{ id: "c-2", first_name: "Lars", last_name: "Nielsen", title: "CTO",
                   email: "lars.nielsen@skandinaviskdata.dk" }],
    },
    {
      id: "lead-fjordlys", company_name: "Fjordlys Solenergi ApS", org_number: "41234567",
      website: "https://fjordlys-sol.dk", city: "Vejle", country: "DK", industry: "Solceller", score: 71,
      contacts: [{ id: "c-3", first_name: "Freja", last_name: "Holm", title: "Direktør", email: "freja@fjordlys-sol.dk" }],
    },
  ];

  const role = document.getElementById("role");
  const language = document.getElementById("language");
  const saved = JSON.parse(sessionStorage.getItem("lb-demo") || "{}");
  role.value = saved.role || "admin";
  language.value = saved.lang || "en";
  document.documentElement.lang = language.value;

  ui.configure({ apiUrl: demo.apiUrl, getToken: () => (role.value === "admin" ? demo.adminToken : demo.memberToken) });

  const remember = () => sessionStorage.setItem("lb-demo", JSON.stringify({ role: role.value, lang: language.value }));
  role.addEventListener("change", () => { remember(); ui.configure({}); });
  language.addEventListener("change", () => {
    remember();
    document.documentElement.lang = language.value;
    ui.configure({});
  });

  const list = document.getElementById("lead-list");
  for (const lead of leads) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#lead/${lead.id}`;
    link.textContent = `${lead.company_name} · ${lead.city || ""} · score ${lead.score}`;
    item.append(link);
    list.append(item);
  }

  const pages = ["integrations", "leads", "lead", "setup", "sync", "log"];
  // The setup wizard is made when its page is first shown (after the admin connected the CRM) and kept, with its
  // unsaved edits, while other pages are shown; leaving its page with unsaved edits asks first (confirmLeave).
  let setup = null;
  let shown = null;
  // With more than one CRM connected, the app says which one the wizard sets up (the element's `crm` attribute).
  const crmChoice = document.getElementById("setup-crm");
  const crmNames = { superoffice: "SuperOffice", salesforce: "Salesforce", hubspot: "HubSpot" };
  const offerConnectedCrms = async () => {
    const token = role.value === "admin" ? demo.adminToken : demo.memberToken;
    const response = await fetch(`${demo.apiUrl}/connections`, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) return;
    const connected = (await response.json()).connections.filter((c) => c.status === "connected").map((c) => c.crm);
    const current = setup && setup.crmId;
    crmChoice.replaceChildren(...connected.map((crm) => new Option(crmNames[crm] || crm, crm, false, crm === current)));
    document.getElementById("setup-crm-choice").hidden = connected.length < 2;
  };
  crmChoice.addEventListener("change", () => {
    if (setup && !setup.confirmLeave()) {
      crmChoice.value = setup.crmId; // the user kept the unsaved changes of the CRM shown
      return;
    }
    setup.setAttribute("crm", crmChoice.value);
  });
  const showSetup = () => {
    void offerConnectedCrms();
    if (!setup) {
      setup = document.createElement("leadbridge-setup"); // no crm attribute: the CRM the tenant connected
      setup.addEventListener("leadbridge-setup-crm", (event) => {
        const name = crmNames[event.detail.crm] || event.detail.crm;
        document.getElementById("setup-title").textContent = `Settings · ${name} setup`;
        crmChoice.value = event.detail.crm;
      });
      setup.sampleLead = leads[0]; // the preview shows what exporting a real lead of the app would write
      document.getElementById("setup-host").replaceChildren(setup);
    } else if (!setup.hasUnsavedChanges) {
      setup.load(); // read again: the CRM may have been connected, or the settings changed, meanwhile
    }
  };
  const show = () => {
    const [page, id] = (location.hash.slice(1) || "integrations").split("/");
    if (shown === "setup" && page !== "setup" && setup && !setup.confirmLeave()) {
      history.replaceState(null, "", "#setup");
      return;
    }
    shown = page;
    for (const name of pages) document.getElementById(`page-${name}`).hidden = name !== page;
    for (const link of document.querySelectorAll(".app-nav a")) {
      const current = link.getAttribute("href") === `#${page === "lead" ? "leads" : page}`;
      if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    if (page === "lead") showLead(leads.find((lead) => lead.id === id) || leads[0]);
    if (page === "setup") showSetup();
    if (page === "sync") document.querySelector("leadbridge-run").refresh(); // the CRM may have been connected meanwhile
  };

  const showLead = (lead) => {
    document.getElementById("lead-title").textContent = lead.company_name;
    const facts = document.getElementById("lead-facts");
    facts.replaceChildren();
    for (const [label, value] of [["Org. number", lead.org_number], ["Website", lead.website], ["City", lead.city],
                                  ["Industry", lead.industry], ["Score", lead.score],
                                  ["Contact", lead.contacts.map((c) => `${c.first_name} ${c.last_name}`).join(", ")]]) {
      if (value === undefined) continue;
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      facts.append(dt, dd);
    }
    const button = document.createElement("leadbridge-export-button");
    button.lead = lead; // the lead document, as the app has it
    button.setAttribute("lead-id", lead.id);
    document.getElementById("lead-export").replaceChildren(button);
  };

  // "Show in the sync log" on a run: the app's log page, narrowed to that run (the log offers "Show every run").
  document.addEventListener("leadbridge-show-sync-log", (event) => {
    location.hash = "#log";
    document.querySelector("leadbridge-sync-log").setAttribute("run-id", event.detail.run_id);
  });

  window.addEventListener("hashchange", show);
  show();
})();
