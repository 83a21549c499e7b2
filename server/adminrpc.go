package server

import (
	"context"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/syncer"
)

// adminHandler serves AdminService. The authorization table lets only admins reach it.
type adminHandler struct {
	store *Store
}

var _ samvaerv1connect.AdminServiceHandler = (*adminHandler)(nil)

func actorOf(ctx context.Context) (Actor, error) {
	id, err := identity(ctx)
	if err != nil {
		return Actor{}, err
	}
	return Actor{UserID: id.UserID, DeviceID: id.DeviceID}, nil
}

func deviceMessage(d Device) *v1.Device {
	return &v1.Device{Id: d.ID, Name: d.Name, UserId: d.UserID, UserName: d.UserName, Status: d.Status,
		EnrolledMs: d.EnrolledMs, LastSeenMs: d.LastSeenMs, RevokedMs: d.RevokedMs, WipedMs: d.WipedMs}
}

func (h *adminHandler) ListDevices(ctx context.Context, _ *connect.Request[v1.ListDevicesRequest]) (*connect.Response[v1.ListDevicesResponse], error) {
	devices, err := h.store.Devices(ctx)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	res := &v1.ListDevicesResponse{}
	for _, d := range devices {
		res.Devices = append(res.Devices, deviceMessage(d))
	}
	return connect.NewResponse(res), nil
}

func (h *adminHandler) RevokeDevice(ctx context.Context, req *connect.Request[v1.RevokeDeviceRequest]) (*connect.Response[v1.RevokeDeviceResponse], error) {
	by, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	status := map[v1.Revocation]string{v1.Revocation_REVOCATION_LOST: DeviceLost, v1.Revocation_REVOCATION_RETIRED: DeviceRetired}[req.Msg.Revocation]
	if status == "" {
		return nil, toConnect(ctx, syncer.Errorf(syncer.CodeInvalid, "Say whether the device is lost or retired."))
	}
	d, err := h.store.RevokeDevice(ctx, by, req.Msg.DeviceId, status)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.RevokeDeviceResponse{Device: deviceMessage(d)}), nil
}

func (h *adminHandler) DisableUser(ctx context.Context, req *connect.Request[v1.DisableUserRequest]) (*connect.Response[v1.DisableUserResponse], error) {
	by, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := h.store.SetUserDisabled(ctx, by, req.Msg.User, true); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.DisableUserResponse{}), nil
}

func (h *adminHandler) EnableUser(ctx context.Context, req *connect.Request[v1.EnableUserRequest]) (*connect.Response[v1.EnableUserResponse], error) {
	by, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := h.store.SetUserDisabled(ctx, by, req.Msg.User, false); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.EnableUserResponse{}), nil
}

// deviceHandler serves DeviceService: ConfirmWipe is signed with a device key and carries no
// access token; ReportUnlockFailures is token-authenticated and concerns only the caller's device.
type deviceHandler struct {
	store *Store
}

var _ samvaerv1connect.DeviceServiceHandler = (*deviceHandler)(nil)

func (h *deviceHandler) ConfirmWipe(ctx context.Context, req *connect.Request[v1.ConfirmWipeRequest]) (*connect.Response[v1.ConfirmWipeResponse], error) {
	m := req.Msg
	if err := h.store.ConfirmWipe(ctx, m.DeviceId, m.Nonce, m.TimeMs, m.UnsentChanges, m.Signature); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.ConfirmWipeResponse{}), nil
}

func (h *deviceHandler) ReportUnlockFailures(ctx context.Context, req *connect.Request[v1.ReportUnlockFailuresRequest]) (*connect.Response[v1.ReportUnlockFailuresResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	through, err := h.store.ReportUnlockFailures(ctx, id, req.Msg.Failures)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.ReportUnlockFailuresResponse{ReportedThrough: through}), nil
}
