//! `/v1/directory`: the security organisation's members and external contacts, and the
//! escalation chain of a group; thin callers of the directory service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use shopguard_api_types::{
    ApiError, ContactsQuery, ContactsView, CreateExternalContactRequest, CreateMemberRequest,
    DirectoryMember, DirectoryMemberList, EscalationChain, EscalationStep, ExternalContactList,
    ExternalContactView, ResponseGroup, UpdateExternalContactRequest, UpdateMemberRequest,
};
use shopguard_app::directory::{
    ContactsPatch, ExternalContactPatch, MemberPatch, NewExternalContact, NewMember,
};
use shopguard_core::directory::Contacts;
use shopguard_storage::{ExternalContactRecord, MemberRecord, Scope};

use crate::error::AppResult;
use crate::extract::{Caller, JsonBody, Params, PathParams, RequiredScope};
use crate::state::AppState;

/// Reading the directory and the playbooks (`incidents:read`).
pub struct DirectoryRead;
impl RequiredScope for DirectoryRead {
    const SCOPE: Scope = Scope::IncidentsRead;
}

/// Changing the directory and the playbooks (`directory:write`).
pub struct DirectoryWrite;
impl RequiredScope for DirectoryWrite {
    const SCOPE: Scope = Scope::DirectoryWrite;
}

fn member_view(record: MemberRecord) -> DirectoryMember {
    let member = record.member;
    DirectoryMember {
        id: member.id,
        display_name: member.display_name,
        operator: member.operator,
        group: member.group,
        group_label_zh: member.group.label_zh().to_owned(),
        group_label_en: member.group.label_en().to_owned(),
        role: member.role,
        backup: member.backup,
        contacts: member.contacts,
        active: member.active,
        version: record.version,
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
        updated_by: record.updated_by,
    }
}

fn contact_view(record: ExternalContactRecord) -> ExternalContactView {
    let contact = record.contact;
    ExternalContactView {
        id: contact.id,
        kind: contact.kind,
        kind_label_zh: contact.kind.label_zh().to_owned(),
        organisation: contact.organisation,
        name: contact.name,
        contacts: contact.contacts,
        notes: contact.notes,
        active: contact.active,
        version: record.version,
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
        updated_by: record.updated_by,
    }
}

fn contacts_patch(contacts: Option<Contacts>) -> Option<ContactsPatch> {
    contacts.map(|contacts| ContactsPatch {
        email: contacts.email,
        phone: contacts.phone,
        im: contacts.im,
    })
}

/// Every member of the security organisation, active or not, contacts masked.
#[utoipa::path(get, path = "/v1/directory/members", tag = "directory",
    responses((status = 200, body = DirectoryMemberList)),
    security(("api_key" = ["incidents:read"])))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
) -> AppResult<Json<DirectoryMemberList>> {
    let principal = caller.principal.clone();
    let members = state
        .run(move |app| app.directory.members(&principal))
        .await?;
    Ok(Json(DirectoryMemberList {
        members: members.into_iter().map(member_view).collect(),
    }))
}

/// Adds a member to a response group.
#[utoipa::path(post, path = "/v1/directory/members", tag = "directory",
    request_body = CreateMemberRequest,
    responses((status = 201, body = DirectoryMember),
        (status = 409, description = "the group has that role filled already", body = ApiError)),
    security(("api_key" = ["directory:write"])))]
pub async fn create_member(
    State(state): State<AppState>,
    caller: Caller<DirectoryWrite>,
    JsonBody(request): JsonBody<CreateMemberRequest>,
) -> AppResult<(StatusCode, Json<DirectoryMember>)> {
    let principal = caller.principal.clone();
    let new = NewMember {
        display_name: request.display_name,
        operator: request.operator,
        group: request.group,
        role: request.role,
        backup: request.backup,
        contacts: request.contacts,
    };
    let record = state
        .run(move |app| app.directory.create_member(&new, &principal))
        .await?;
    Ok((StatusCode::CREATED, Json(member_view(record))))
}

/// One member, contacts masked.
#[utoipa::path(get, path = "/v1/directory/members/{id}", tag = "directory",
    params(("id" = String, Path, description = "member id", max_length = 100)),
    responses((status = 200, body = DirectoryMember), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn get_member(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    PathParams(id): PathParams<String>,
) -> AppResult<Json<DirectoryMember>> {
    let principal = caller.principal.clone();
    let record = state
        .run(move |app| app.directory.member(&id, &principal))
        .await?;
    Ok(Json(member_view(record)))
}

/// Changes a member; `active: false` offboards them (kept for history).
#[utoipa::path(patch, path = "/v1/directory/members/{id}", tag = "directory",
    params(("id" = String, Path, description = "member id", max_length = 100)),
    request_body = UpdateMemberRequest,
    responses((status = 200, body = DirectoryMember), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload), a role filled already, or still someone's backup", body = ApiError)),
    security(("api_key" = ["directory:write"])))]
pub async fn update_member(
    State(state): State<AppState>,
    caller: Caller<DirectoryWrite>,
    PathParams(id): PathParams<String>,
    JsonBody(request): JsonBody<UpdateMemberRequest>,
) -> AppResult<Json<DirectoryMember>> {
    let principal = caller.principal.clone();
    let patch = MemberPatch {
        display_name: request.display_name,
        operator: request.operator,
        group: request.group,
        role: request.role,
        backup: request.backup,
        contacts: contacts_patch(request.contacts),
        active: request.active,
    };
    let record = state
        .run(move |app| {
            app.directory
                .update_member(&id, &patch, request.version, &principal)
        })
        .await?;
    Ok(Json(member_view(record)))
}

/// A member's contacts: masked, or in the clear with `unmask=true` and `pii:unmask`
/// (recorded in the audit log).
#[utoipa::path(get, path = "/v1/directory/members/{id}/contacts", tag = "directory",
    params(("id" = String, Path, description = "member id", max_length = 100), ContactsQuery),
    responses((status = 200, body = ContactsView), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn member_contacts(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    PathParams(id): PathParams<String>,
    Params(query): Params<ContactsQuery>,
) -> AppResult<Json<ContactsView>> {
    let principal = caller.principal.clone();
    let (contacts, unmasked) = state
        .run(move |app| app.directory.member_contacts(&id, query.unmask, &principal))
        .await?;
    Ok(Json(ContactsView { contacts, unmasked }))
}

/// Every external contact, active or not, contacts masked.
#[utoipa::path(get, path = "/v1/directory/contacts", tag = "directory",
    responses((status = 200, body = ExternalContactList)),
    security(("api_key" = ["incidents:read"])))]
pub async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
) -> AppResult<Json<ExternalContactList>> {
    let principal = caller.principal.clone();
    let contacts = state
        .run(move |app| app.directory.external_contacts(&principal))
        .await?;
    Ok(Json(ExternalContactList {
        contacts: contacts.into_iter().map(contact_view).collect(),
    }))
}

/// Adds an external contact (law enforcement, regulators, partners, the press, ...).
#[utoipa::path(post, path = "/v1/directory/contacts", tag = "directory",
    request_body = CreateExternalContactRequest,
    responses((status = 201, body = ExternalContactView)),
    security(("api_key" = ["directory:write"])))]
pub async fn create_contact(
    State(state): State<AppState>,
    caller: Caller<DirectoryWrite>,
    JsonBody(request): JsonBody<CreateExternalContactRequest>,
) -> AppResult<(StatusCode, Json<ExternalContactView>)> {
    let principal = caller.principal.clone();
    let new = NewExternalContact {
        kind: request.kind,
        organisation: request.organisation,
        name: request.name,
        contacts: request.contacts,
        notes: request.notes,
    };
    let record = state
        .run(move |app| app.directory.create_external_contact(&new, &principal))
        .await?;
    Ok((StatusCode::CREATED, Json(contact_view(record))))
}

/// One external contact, contacts masked.
#[utoipa::path(get, path = "/v1/directory/contacts/{id}", tag = "directory",
    params(("id" = String, Path, description = "contact id", max_length = 100)),
    responses((status = 200, body = ExternalContactView), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn get_contact(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    PathParams(id): PathParams<String>,
) -> AppResult<Json<ExternalContactView>> {
    let principal = caller.principal.clone();
    let record = state
        .run(move |app| app.directory.external_contact(&id, &principal))
        .await?;
    Ok(Json(contact_view(record)))
}

/// Changes an external contact; `active: false` retires it (kept for history).
#[utoipa::path(patch, path = "/v1/directory/contacts/{id}", tag = "directory",
    params(("id" = String, Path, description = "contact id", max_length = 100)),
    request_body = UpdateExternalContactRequest,
    responses((status = 200, body = ExternalContactView), (status = 404, body = ApiError),
        (status = 409, description = "changed meanwhile (reload)", body = ApiError)),
    security(("api_key" = ["directory:write"])))]
pub async fn update_contact(
    State(state): State<AppState>,
    caller: Caller<DirectoryWrite>,
    PathParams(id): PathParams<String>,
    JsonBody(request): JsonBody<UpdateExternalContactRequest>,
) -> AppResult<Json<ExternalContactView>> {
    let principal = caller.principal.clone();
    let patch = ExternalContactPatch {
        kind: request.kind,
        organisation: request.organisation,
        name: request.name,
        contacts: contacts_patch(request.contacts),
        notes: request.notes,
        active: request.active,
    };
    let record = state
        .run(move |app| {
            app.directory
                .update_external_contact(&id, &patch, request.version, &principal)
        })
        .await?;
    Ok(Json(contact_view(record)))
}

/// An external contact's contacts: masked, or in the clear with `unmask=true` and
/// `pii:unmask` (recorded in the audit log).
#[utoipa::path(get, path = "/v1/directory/contacts/{id}/contacts", tag = "directory",
    params(("id" = String, Path, description = "contact id", max_length = 100), ContactsQuery),
    responses((status = 200, body = ContactsView), (status = 404, body = ApiError)),
    security(("api_key" = ["incidents:read"])))]
pub async fn contact_contacts(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    PathParams(id): PathParams<String>,
    Params(query): Params<ContactsQuery>,
) -> AppResult<Json<ContactsView>> {
    let principal = caller.principal.clone();
    let (contacts, unmasked) = state
        .run(move |app| {
            app.directory
                .external_contact_contacts(&id, query.unmask, &principal)
        })
        .await?;
    Ok(Json(ContactsView { contacts, unmasked }))
}

/// Whom to escalate to for a group: its leader, its deputy, then the leadership group's
/// leader (active members only), contacts masked.
#[utoipa::path(get, path = "/v1/directory/escalation/{group}", tag = "directory",
    params(("group" = ResponseGroup, Path, description = "the group")),
    responses((status = 200, body = EscalationChain)),
    security(("api_key" = ["incidents:read"])))]
pub async fn escalation(
    State(state): State<AppState>,
    caller: Caller<DirectoryRead>,
    PathParams(group): PathParams<ResponseGroup>,
) -> AppResult<Json<EscalationChain>> {
    let principal = caller.principal.clone();
    let chain = state
        .run(move |app| app.directory.escalation(group, &principal))
        .await?;
    Ok(Json(EscalationChain {
        group,
        chain: chain
            .into_iter()
            .map(|member| EscalationStep {
                member_id: member.id,
                display_name: member.display_name,
                group: member.group,
                role: member.role,
                operator: member.operator,
                contacts: member.contacts,
            })
            .collect(),
    }))
}
