//! Bulk mutations end to end: staged upload, run, poll, JSONL results, limits.
use std::time::Duration;

use serde_json::{Value, json};
use shopsync::emulator::{Emulator, RunningEmulator};

async fn gql(emu: &RunningEmulator, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/admin/api/2026-04/graphql.json", emu.base_url()))
        .header("X-Shopify-Access-Token", emu.token())
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn stage(emu: &RunningEmulator, content: &str) -> String {
    let v = gql(emu, "mutation { stagedUploadsCreate(input: [{resource: BULK_MUTATION_VARIABLES, filename: \"vars.jsonl\", mimeType: \"text/jsonl\", httpMethod: POST}]) { stagedTargets { url parameters { name value } } userErrors { message } } }", json!({})).await;
    let target = &v["data"]["stagedUploadsCreate"]["stagedTargets"][0];
    let url = target["url"].as_str().unwrap().to_string();
    let boundary = "XBOUNDARYX";
    let mut body = String::new();
    let mut key = String::new();
    for p in target["parameters"].as_array().unwrap() {
        let (n, val) = (p["name"].as_str().unwrap(), p["value"].as_str().unwrap());
        if n == "key" {
            key = val.to_string();
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{val}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"vars.jsonl\"\r\nContent-Type: text/jsonl\r\n\r\n{content}\r\n--{boundary}--\r\n"));
    let r = reqwest::Client::new()
        .post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    assert!(text.contains(&format!("<Key>{key}</Key>")));
    key
}

const RUN: &str = "mutation R($m: String!, $p: String!) { bulkOperationRunMutation(mutation: $m, stagedUploadPath: $p) { bulkOperation { id status type } userErrors { field message code } } }";
const INNER: &str = "mutation C($input: CustomerInput!) { customerCreate(input: $input) { customer { email } userErrors { field message } } }";

#[tokio::test]
async fn bulk_mutation_runs_every_line_and_serves_jsonl() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let key = stage(
        &emu,
        "{\"input\":{\"email\":\"a@example.com\"}}\n{\"input\":{\"email\":\"not-an-email\"}}\n",
    )
    .await;
    let v = gql(&emu, RUN, json!({"m": INNER, "p": key})).await;
    let op = &v["data"]["bulkOperationRunMutation"]["bulkOperation"];
    assert_eq!(op["status"], "CREATED");
    assert_eq!(op["type"], "MUTATION");
    let id = op["id"].clone();
    let mut done = Value::Null;
    for _ in 0..200 {
        let p = gql(
            &emu,
            "query B($id: ID!) { bulkOperation(id: $id) { status objectCount url } }",
            json!({"id": id}),
        )
        .await;
        if p["data"]["bulkOperation"]["status"] == "COMPLETED" {
            done = p["data"]["bulkOperation"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(done["objectCount"], "2");
    let text = reqwest::get(done["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        json!({"data": {"customerCreate": {"customer": {"email": "a@example.com"}, "userErrors": []}}, "__lineNumber": 0})
    );
    assert_eq!(
        lines[1]["data"]["customerCreate"]["userErrors"][0]["message"],
        "Email is invalid"
    );
    assert_eq!(lines[1]["__lineNumber"], 1);
}

#[tokio::test]
async fn bulk_mutation_checks_file_then_concurrency() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let v = gql(&emu, RUN, json!({"m": INNER, "p": "tmp/nothing.jsonl"})).await;
    assert_eq!(
        v["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"],
        "NO_SUCH_FILE"
    );
    let empty = stage(&emu, "").await;
    let v = gql(&emu, RUN, json!({"m": INNER, "p": empty})).await;
    assert_eq!(
        v["data"]["bulkOperationRunMutation"]["userErrors"],
        json!([{"field": null, "message": "The input file is empty.", "code": "INVALID_STAGED_UPLOAD_FILE"}])
    );
    let key = stage(&emu, "{\"input\":{\"email\":\"b@example.com\"}}\n").await;
    let v = gql(&emu, RUN, json!({"m": "mutation { bulkOperationRunMutation(mutation: \"x\", stagedUploadPath: \"y\") { userErrors { message } } }", "p": key})).await;
    assert_eq!(
        v["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"],
        "INVALID_MUTATION"
    );
}

#[tokio::test]
async fn staged_uploads_take_files_over_the_default_body_limit_and_index_handles() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    // 3,000 productSet lines with long descriptions: about 3 MB, over axum's 2 MB default; Shopify takes 100 MB.
    let filler = "x".repeat(1000);
    let content: String = (0..3000)
        .map(|i| {
            format!(
                "{}\n",
                json!({"input": {"title": format!("Big {i}"), "handle": format!("big-{i}"), "descriptionHtml": filler}, "identifier": {"handle": format!("big-{i}")}})
            )
        })
        .collect();
    assert!(content.len() > 3_000_000);
    let key = stage(&emu, &content).await;
    let inner = "mutation S($input: ProductSetInput!, $identifier: ProductSetIdentifiers) { productSet(input: $input, identifier: $identifier, synchronous: true) { product { id handle } userErrors { field message } } }";
    let v = gql(&emu, RUN, json!({"m": inner, "p": key})).await;
    let id = v["data"]["bulkOperationRunMutation"]["bulkOperation"]["id"].clone();
    assert!(id.is_string(), "{v}");
    let mut status = Value::Null;
    for _ in 0..500 {
        let p = gql(
            &emu,
            "query B($id: ID!) { bulkOperation(id: $id) { status objectCount } }",
            json!({"id": id}),
        )
        .await;
        status = p["data"]["bulkOperation"].clone();
        if status["status"] == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "COMPLETED");
    assert_eq!(status["objectCount"], "3000");
    // The same handles again update the same products (looked up through the handle index).
    let key = stage(&emu, &content[..content.find('\n').unwrap() + 1]).await;
    gql(&emu, RUN, json!({"m": inner, "p": key})).await;
    let found = gql(
        &emu,
        "query P($h: String!) { productByIdentifier(identifier: {handle: $h}) { handle title } }",
        json!({"h": "big-2999"}),
    )
    .await;
    assert_eq!(
        found["data"]["productByIdentifier"],
        json!({"handle": "big-2999", "title": "Big 2999"})
    );
    assert_eq!(emu.dump()["products"].as_object().unwrap().len(), 3000);
}

/// Runs `lines` through a bulk `customerSet` operation and answers the result lines.
async fn run_customer_set(emu: &RunningEmulator, lines: &[Value]) -> Vec<Value> {
    const SET: &str = "mutation S($input: CustomerSetInput!, $identifier: CustomerSetIdentifiers) { customerSet(input: $input, identifier: $identifier) { customer { id email } userErrors { code field message } } }";
    let content: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let key = stage(emu, &content).await;
    let v = gql(emu, RUN, json!({"m": SET, "p": key})).await;
    let id = v["data"]["bulkOperationRunMutation"]["bulkOperation"]["id"].clone();
    for _ in 0..500 {
        let p = gql(
            emu,
            "query B($id: ID!) { bulkOperation(id: $id) { status url } }",
            json!({"id": id}),
        )
        .await;
        if p["data"]["bulkOperation"]["status"] == "COMPLETED" {
            let text = reqwest::get(p["data"]["bulkOperation"]["url"].as_str().unwrap())
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            return text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("bulk operation {id} did not complete");
}

#[tokio::test]
async fn bulk_customer_set_upserts_by_email_and_moves_emails_through_ids() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let upsert = |email: &str, name: &str| json!({"input": {"email": email, "firstName": name}, "identifier": {"email": email}});
    // The second line finds the customer the first one created, in the same operation.
    let first = run_customer_set(
        &emu,
        &[
            upsert("a@example.com", "A"),
            upsert("A@Example.com", "A2"),
            upsert("b@example.com", "B"),
        ],
    )
    .await;
    let id = |line: &Value| line["data"]["customerSet"]["customer"]["id"].clone();
    assert!(id(&first[0]).is_string(), "{first:?}");
    assert_eq!(id(&first[1]), id(&first[0]), "{first:?}");
    assert_ne!(id(&first[2]), id(&first[0]));
    // Moving a's email through its id frees it: upserting the old email then creates a new customer.
    let second = run_customer_set(
        &emu,
        &[
            json!({"input": {"email": "c@example.com"}, "identifier": {"id": id(&first[0])}}),
            upsert("a@example.com", "New A"),
            upsert("c@example.com", "C"),
            upsert("b@example.com", "Taken"),
        ],
    )
    .await;
    assert_eq!(id(&second[0]), id(&first[0]), "{second:?}");
    assert!(
        id(&second[1]).is_string() && id(&second[1]) != id(&first[0]),
        "{second:?}"
    );
    assert_eq!(id(&second[2]), id(&first[0]), "{second:?}");
    assert_eq!(id(&second[3]), id(&first[2]), "{second:?}");
    let count = gql(&emu, "{ customersCount { count } }", json!({})).await;
    assert_eq!(count["data"]["customersCount"]["count"], 3);
    assert!(emu.shared().lock().state.indexes_consistent());
}
